"""Plan and apply `runapi-mcp init`: compute the whole new file first, then write it in one step."""

from __future__ import annotations

import shutil
import stat
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from runapi_mcp.core.files import atomic_write_text
from runapi_mcp.install.errors import InitError
from runapi_mcp.install.jsonconfig import merge_json
from runapi_mcp.install.launch import CommandError, ServerLaunch, default_launch, parse_command
from runapi_mcp.install.targets import TARGETS, HostTarget, KeyPlan, Scope
from runapi_mcp.install.tomlconfig import merge_toml

_HIDDEN_KEY = SecretStr("<hidden: your RUNAPI_API_KEY>")
_CODEX_APPROVAL_NOTE = {
    False: "Codex asks before each generate_image and edit_image (paid); `codex exec` cannot run them. "
    "Add --approve-tools to let them run without asking.",
    True: "Every runapi tool runs without asking, paid generate_image and edit_image included (--approve-tools).",
}


@dataclass(frozen=True)
class InitPlan:
    path: Path
    # Both texts may hold an API key: keep them out of repr, logs and tracebacks.
    new_text: str = field(repr=False)
    old_text: str | None = field(repr=False)
    backup_path: Path | None
    target: str = ""
    scope: Scope = "project"
    # new_text with any key replaced by a placeholder: the only form that may be printed.
    display_text: str = field(default="", repr=False)
    contains_key: bool = False
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.new_text != self.old_text


def plan_init(
    target: str,
    *,
    user: bool,
    command: ServerLaunch | str | None,
    project_dir: Path,
    home: Path,
    forward_key: bool,
    write_key: SecretStr | None = None,
    approve_tools: bool = False,
    platform: str = sys.platform,
    now: datetime | None = None,
) -> InitPlan:
    """Everything `init` would do, computed without writing: the file, its new text, and the backup name.

    `command` is a launch spec or a --command string (split with shlex); None means `uvx runapi-mcp`.
    `approve_tools` (Codex only) lets every tool run without an approval prompt, paid ones included.
    Raises InitError for an unknown target, a scope the host lacks, or an existing file it cannot parse.
    """
    host = _target(target)
    if approve_tools and host.style != "codex":
        raise InitError(f"--approve-tools applies to Codex only; {host.title} asks in its own way.")
    scope = _scope(host, user)
    launch = _launch(command, platform)
    if scope == "project" and not project_dir.is_dir():
        raise InitError(f"{project_dir} is not a folder: pass the project's folder with --project-dir.")
    path = host.path(scope, project_dir=project_dir, home=home, platform=platform)
    key = KeyPlan.choose(forward_key=forward_key, write_key=write_key)

    old_text = _read(path)
    new_text = _render(host, path, old_text, launch, key, approve_tools)
    display_text = new_text
    if key.mode == "literal":
        display_text = _render(host, path, old_text, launch, KeyPlan("literal", _HIDDEN_KEY), approve_tools)

    backup_path = None
    if old_text is not None and new_text != old_text:
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        backup_path = path.with_name(f"{path.name}.bak-{stamp}")

    notes = [host.key_note(key, path)]
    if key.mode == "literal" and scope == "project":
        notes.append(
            f"This file is inside the project: keep it out of version control "
            f"(add {_relative(path, project_dir)} to .gitignore)."
        )
    if host.style == "codex":
        notes.append(_CODEX_APPROVAL_NOTE[approve_tools])
    if step := host.next_step.get(scope):
        notes.append(step)
    return InitPlan(
        path=path,
        new_text=new_text,
        old_text=old_text,
        backup_path=backup_path,
        target=host.name,
        scope=scope,
        display_text=display_text,
        contains_key=key.mode == "literal",
        notes=tuple(notes),
    )


def render_new(target: str, *, launch: ServerLaunch | None = None) -> str:
    """What init writes, with the key forwarded by name, into a file that does not exist yet.

    The examples in manifests/ are these bytes: the text is the same for every scope and platform.
    """
    host = _target(target)
    return _render(host, Path(host.name), None, launch or default_launch(), KeyPlan("forward"))


def apply_init(plan: InitPlan) -> None:
    """Back the old file up, then replace it atomically; a key-bearing file is left readable by its owner only."""
    if not plan.changed:
        return
    path = plan.path.resolve() if plan.path.is_symlink() else plan.path
    current = _read(path)
    if current != plan.old_text:
        raise InitError(f"{plan.path} changed while init was preparing the update; nothing was written. Run it again.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = _mode_for(path, plan.contains_key)
        if current is not None and plan.backup_path is not None:
            shutil.copy2(path, _free_name(plan.backup_path))
        atomic_write_text(path, plan.new_text, mode)
    except OSError as exc:
        raise InitError(f"Could not write {plan.path}: {exc.strerror or exc}.") from None


def _target(name: str) -> HostTarget:
    try:
        return TARGETS[name]
    except KeyError:
        raise InitError(f"Unknown target {name!r}; choose one of: {', '.join(TARGETS)}.") from None


def _scope(host: HostTarget, user: bool) -> Scope:
    if user and "user" not in host.scopes:
        raise InitError(
            f"{host.title} has no user-wide config file that runapi-mcp can edit; "
            f"run `runapi-mcp init {host.name}` in the project instead."
        )
    if user or "project" not in host.scopes:
        return "user"
    return "project"


def _launch(command: ServerLaunch | str | None, platform: str) -> ServerLaunch:
    if command is None:
        return default_launch()
    if isinstance(command, ServerLaunch):
        return command
    try:
        return parse_command(command, platform=platform)
    except CommandError as exc:
        raise InitError(str(exc)) from None


def _render(
    host: HostTarget, path: Path, old_text: str | None, launch: ServerLaunch, key: KeyPlan, approve_tools: bool = False
) -> str:
    entry = host.entry(launch, key, approve_tools=approve_tools)
    if host.fmt == "toml":
        return merge_toml(host, path, old_text, entry)
    return merge_json(host, path, old_text, entry, key)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise InitError(f"{path} is not UTF-8 text. The file was left untouched.") from None
    except OSError as exc:
        raise InitError(f"Cannot read {path}: {exc.strerror or exc}. The file was left untouched.") from None


def _mode_for(path: Path, contains_key: bool) -> int:
    if contains_key:
        return 0o600
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o644


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate
