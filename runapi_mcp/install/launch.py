"""How a host starts the server: the one launch spec every init target and manifest is built from."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

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
    """The published package, fetched by uv: what manifests, install links and index installs use."""
    return ServerLaunch(command="uvx", args=[PACKAGE])


InstallKind = Literal["index", "local", "none"]


def install_kind() -> InstallKind:
    """How this copy of runapi-mcp got here: from a package index, from a local folder or file (a checkout,
    `pip install -e .`, a local wheel: PEP 610's direct_url.json says so), or not installed (run from source).

    Only metadata an installer wrote counts (it leaves an INSTALLER file): a checkout's own egg-info does not.
    """
    package_home = Path(__file__).resolve().parents[2]  # the folder that holds the runapi_mcp package
    installed = [d for d in metadata.distributions(name=PACKAGE) if d.read_text("INSTALLER") is not None]
    for dist in installed:
        if Path(str(dist.locate_file(""))).resolve() == package_home:
            return "local" if dist.read_text("direct_url.json") else "index"
    # An editable install keeps its metadata in site-packages and its code in the checkout.
    return "local" if installed else "none"


def launch_here(kind: InstallKind | None = None, *, executable: str = sys.executable) -> ServerLaunch:
    """The command that starts this very copy from any folder, for init to write when no --command is given.

    An index install is the published package, so `uvx runapi-mcp` finds it. Anything else (a checkout, a
    local wheel) is not on an index: `uvx runapi-mcp` would fail there, so the host runs this interpreter
    (the venv's own path, not resolved through its symlink) with `-m runapi_mcp`. Run from source without an
    install, the source folder goes on PYTHONPATH.
    """
    kind = kind or install_kind()
    if kind == "index":
        return default_launch()
    env: dict[str, str] = {}
    if kind == "none":
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return ServerLaunch(command=str(Path(executable).absolute()), args=["-m", "runapi_mcp"], env=env)


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
