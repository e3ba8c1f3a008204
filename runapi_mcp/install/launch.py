"""How a host starts the server: the one launch spec every init target and manifest is built from."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

SERVER_NAME = "runapi"  # the entry name in every host's config
PACKAGE = "runapi-mcp"  # PyPI name and console script
KEY_VAR = "RUNAPI_API_KEY"
BASE_URL_VAR = "RUNAPI_BASE_URL"
REGISTRY_NAME = "io.github.runapi/runapi-mcp"

# A 4k generation plus download can outlast a host's default 60 s tool timeout; hosts that let a
# server ask for more get this much.
TOOL_TIMEOUT_SEC = 180
# The first `uvx runapi-mcp` downloads and installs the package, which outlasts Codex's default 10 s.
STARTUP_TIMEOUT_SEC = 60


class CommandError(ValueError):
    """A --command value that cannot become a launch command."""


@dataclass(frozen=True)
class ServerLaunch:
    command: str
    args: list[str] = field(default_factory=list[str])
    env: dict[str, str] = field(default_factory=dict[str, str])

    def display(self) -> str:
        return shlex.join([self.command, *self.args])


def default_launch() -> ServerLaunch:
    return ServerLaunch(command="uvx", args=[PACKAGE])


def parse_command(text: str, *, platform: str) -> ServerLaunch:
    """Split a --command value such as `python -m runapi_mcp` or `/opt/venv/bin/runapi-mcp --sandbox`.

    Windows paths keep their backslashes: POSIX shell rules would eat them.
    """
    windows = platform.startswith("win")
    try:
        parts = shlex.split(text, posix=not windows)
    except ValueError as exc:
        raise CommandError(f"--command {text!r} cannot be split into words: {exc}.") from None
    if windows:
        parts = [_unquote(p) for p in parts]
    if not parts or not parts[0].strip():
        raise CommandError("--command needs a program to run, such as `uvx runapi-mcp` or `python -m runapi_mcp`.")
    return ServerLaunch(command=parts[0], args=parts[1:])


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"'":
        return word[1:-1]
    return word
