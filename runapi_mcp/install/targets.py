"""One target per host: where its config lives and what our entry looks like in it.

Every fact here was checked against the host's documentation or the released host itself:
- Claude Code passes its whole environment to a stdio server, and expands `${VAR}` and `${VAR:-default}`
  in `.mcp.json`; an unset `${VAR}` arrives as the literal text `${VAR}`, so we use `${VAR:-}`.
- Codex passes only a short allow-list of variables; `env_vars` names more to pass through. It reads
  `startup_timeout_sec` (default 10 s) and `tool_timeout_sec` (default 60 s) per server. It asks before
  running a tool that is not read-only, and `codex exec` refuses it outright ("approval policy is never"),
  unless `default_tools_approval_mode` or `tools.NAME.approval_mode` is "approve".
- Cursor, Windsurf and Roo Code expand `${env:VAR}`; Roo Code reads a per-server `timeout` in seconds.
- VS Code expands `${input:ID}` from the top-level `inputs`, prompting once and keeping the answer secret.
- Claude Desktop expands nothing and starts servers with a minimal environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from runapi_mcp.install.launch import BASE_URL_VAR, KEY_VAR, STARTUP_TIMEOUT_SEC, TOOL_TIMEOUT_SEC, ServerLaunch

Scope = Literal["project", "user"]
FileFormat = Literal["json", "toml"]
EntryStyle = Literal["mcp", "vscode", "codex"]
KeyMode = Literal["forward", "literal", "none"]

VSCODE_KEY_INPUT_ID = "runapi-api-key"
FREE_WRITING_TOOLS = ("get_task",)
SHARED_KEY_FILE = "~/.config/runapi/config.json"


@dataclass(frozen=True)
class KeyPlan:
    """How the entry carries the API key: by the host's variable reference, written out, or not at all."""

    mode: KeyMode
    value: SecretStr | None = None

    @classmethod
    def choose(cls, *, forward_key: bool, write_key: SecretStr | None) -> KeyPlan:
        if write_key is not None:
            return cls("literal", write_key)
        return cls("forward" if forward_key else "none")


def _xdg_like(home: Path, platform: str, app: str, *, linux: str) -> Path:
    if platform == "darwin":
        return home / "Library" / "Application Support" / app
    if platform.startswith("win"):
        return home / "AppData" / "Roaming" / app
    return home / ".config" / linux


@dataclass(frozen=True)
class HostTarget:
    name: str
    title: str
    fmt: FileFormat
    container: str  # the key (JSON) or table (TOML) holding servers by name
    project_file: str | None  # relative to the project directory; None: no project scope
    user_file: Callable[[Path, str], Path] | None  # (home, platform) -> path; None: no user scope
    # How the host spells "the value of RUNAPI_API_KEY" inside its config; None: it expands nothing.
    key_reference: str | None
    style: EntryStyle = "mcp"
    extra: Mapping[str, Any] = field(default_factory=dict[str, Any])
    next_step: Mapping[Scope, str] = field(default_factory=dict[Scope, str])
    # GUI apps that start servers with a bare PATH cannot find `uvx` in ~/.local/bin or Homebrew.
    needs_full_path: bool = False

    @property
    def scopes(self) -> tuple[Scope, ...]:
        found: list[Scope] = []
        if self.project_file is not None:
            found.append("project")
        if self.user_file is not None:
            found.append("user")
        return tuple(found)

    def path(self, scope: Scope, *, project_dir: Path, home: Path, platform: str) -> Path:
        if scope == "project":
            if self.project_file is None:
                raise ValueError(f"{self.title} has no project scope")
            return project_dir / self.project_file
        if self.user_file is None:
            raise ValueError(f"{self.title} has no user scope")
        return self.user_file(home, platform)

    def entry(self, launch: ServerLaunch, key: KeyPlan, *, approve_tools: bool = False) -> dict[str, Any]:
        """Our server entry, with exactly the keys this host reads, in the order its docs show them."""
        if self.style == "codex":
            return self._codex_entry(launch, key, approve_tools=approve_tools)
        entry: dict[str, Any] = {}
        if self.style == "vscode":
            entry["type"] = "stdio"
        entry["command"] = launch.command
        entry["args"] = list(launch.args)
        env = dict(launch.env)
        if key.mode == "literal" and key.value is not None:
            env[KEY_VAR] = key.value.get_secret_value()
        elif key.mode == "forward" and self.key_reference is not None:
            env[KEY_VAR] = self.key_reference
        if env:
            entry["env"] = env
        entry.update(self.extra)
        return entry

    def _codex_entry(self, launch: ServerLaunch, key: KeyPlan, *, approve_tools: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"command": launch.command, "args": list(launch.args)}
        entry["env_vars"] = [KEY_VAR, BASE_URL_VAR] if key.mode == "forward" else [BASE_URL_VAR]
        entry["startup_timeout_sec"] = STARTUP_TIMEOUT_SEC
        entry["tool_timeout_sec"] = TOOL_TIMEOUT_SEC
        if approve_tools:
            # The user asked for it: paid tools (generate_image, edit_image) run without asking too.
            entry["default_tools_approval_mode"] = "approve"
        env = dict(launch.env)
        if key.mode == "literal" and key.value is not None:
            env[KEY_VAR] = key.value.get_secret_value()
        if env:
            entry["env"] = env  # a table of its own: [mcp_servers.runapi.env]
        # get_task is free but not read-only (it saves files): without this, Codex asks every time and
        # `codex exec` cannot finish an unfinished task at all. The other free tools are read-only.
        entry["tools"] = {name: {"approval_mode": "approve"} for name in FREE_WRITING_TOOLS}
        return entry

    def key_note(self, key: KeyPlan, path: Path) -> str:
        if key.mode == "literal":
            return f"The key is written into {path} (readable by you only)."
        if key.mode == "none":
            return f"No key in this entry: the server reads {KEY_VAR} or {SHARED_KEY_FILE} itself."
        if self.style == "codex":
            return f"Codex passes {KEY_VAR} (and {BASE_URL_VAR}) through from the environment it runs in."
        if self.style == "vscode":
            return "VS Code asks for the RunAPI key the first time it starts the server and keeps it secret."
        if self.key_reference is None:
            return (
                f"{self.title} does not expand variables in this file: set {KEY_VAR} in the environment "
                f"{self.title} starts with, save the key in {SHARED_KEY_FILE}, or run again with --write-key."
            )
        return f"The key comes from {KEY_VAR} in {self.title}'s environment (or from {SHARED_KEY_FILE})."


def _claude_desktop_file(home: Path, platform: str) -> Path:
    return _xdg_like(home, platform, "Claude", linux="Claude") / "claude_desktop_config.json"


def _vscode_user_file(home: Path, platform: str) -> Path:
    return _xdg_like(home, platform, "Code", linux="Code") / "User" / "mcp.json"


TARGETS: dict[str, HostTarget] = {
    t.name: t
    for t in (
        HostTarget(
            name="claude",
            title="Claude Code",
            fmt="json",
            container="mcpServers",
            project_file=".mcp.json",
            user_file=lambda home, _platform: home / ".claude.json",
            key_reference="${" + KEY_VAR + ":-}",
            next_step={
                "project": "Start Claude Code in this project and approve the runapi server once; "
                "`claude mcp list` shows it.",
                "user": "If Claude Code is running, quit and restart it: it keeps this file in memory and may "
                "write over the change. `claude mcp list` shows the server.",
            },
        ),
        HostTarget(
            name="claude-desktop",
            title="Claude Desktop",
            fmt="json",
            container="mcpServers",
            project_file=None,
            user_file=_claude_desktop_file,
            key_reference=None,
            next_step={"user": "Quit Claude Desktop completely and open it again."},
            needs_full_path=True,
        ),
        HostTarget(
            name="codex",
            title="Codex",
            fmt="toml",
            container="mcp_servers",
            project_file=".codex/config.toml",
            user_file=lambda home, _platform: home / ".codex" / "config.toml",
            key_reference=None,
            style="codex",
            next_step={
                "project": "Codex reads .codex/config.toml only in projects you trust (use --user for every "
                "project). `codex mcp list` shows the server.",
                "user": "`codex mcp list` shows the server; start a new Codex session to use it.",
            },
        ),
        HostTarget(
            name="cursor",
            title="Cursor",
            fmt="json",
            container="mcpServers",
            project_file=".cursor/mcp.json",
            user_file=lambda home, _platform: home / ".cursor" / "mcp.json",
            key_reference="${env:" + KEY_VAR + "}",
            next_step={
                "project": "Open Cursor Settings > MCP and switch runapi on.",
                "user": "Open Cursor Settings > MCP and switch runapi on.",
            },
        ),
        HostTarget(
            name="vscode",
            title="VS Code",
            fmt="json",
            container="servers",
            project_file=".vscode/mcp.json",
            user_file=_vscode_user_file,
            key_reference="${input:" + VSCODE_KEY_INPUT_ID + "}",
            style="vscode",
            next_step={
                "project": "Open .vscode/mcp.json in VS Code and press Start above runapi "
                "(or run 'MCP: List Servers').",
                "user": "In VS Code run 'MCP: List Servers' and start runapi.",
            },
        ),
        HostTarget(
            name="windsurf",
            title="Windsurf",
            fmt="json",
            container="mcpServers",
            project_file=None,
            user_file=lambda home, _platform: home / ".codeium" / "windsurf" / "mcp_config.json",
            key_reference="${env:" + KEY_VAR + "}",
            next_step={"user": "In Windsurf open Cascade > MCP servers and press Refresh."},
        ),
        HostTarget(
            name="roo",
            title="Roo Code",
            fmt="json",
            container="mcpServers",
            project_file=".roo/mcp.json",
            user_file=None,
            key_reference="${env:" + KEY_VAR + "}",
            extra={"timeout": TOOL_TIMEOUT_SEC},
            next_step={"project": "Roo Code loads .roo/mcp.json by itself; its MCP view shows runapi."},
        ),
    )
}


def vscode_key_input() -> dict[str, Any]:
    return {
        "type": "promptString",
        "id": VSCODE_KEY_INPUT_ID,
        "description": "RunAPI API key (leave empty to use ~/.config/runapi/config.json)",
        "password": True,
    }
