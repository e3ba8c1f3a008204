"""Which hosts have the runapi server in their config, and whether the command they would run starts.

A command is started as the host would start it: the entry's command and args, over stdio, with the
entry's literal env values, and asked for its tools. Flags are never appended (`uvx runapi-mcp` passes
them to uvx, not to us).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from runapi_mcp.doctor.checks import KEY_VAR, is_placeholder, shown_url
from runapi_mcp.doctor.report import Report
from runapi_mcp.install.launch import SERVER_NAME
from runapi_mcp.install.targets import TARGETS, HostTarget, Scope

_HTTP_TYPES = frozenset({"http", "sse", "streamable-http", "streamableHttp"})
_EXPECTED_TOOL = "generate_image"


@dataclass(frozen=True)
class Configured:
    """A host config file that holds our entry."""

    host: HostTarget
    scope: Scope
    path: Path
    entry: Any  # as found in the file: checked before use

    @property
    def label(self) -> str:
        return f"host {self.host.title} ({self.scope})"


@dataclass(frozen=True)
class Started:
    tools: tuple[str, ...]
    seconds: float


def find_configured(report: Report, *, project_dir: Path, home: Path, platform: str) -> list[Configured]:
    """Every host config (project scope under `project_dir`, user scope under `home`) holding a runapi entry."""
    found: list[Configured] = []
    seen: set[Path] = set()
    for host in TARGETS.values():
        for scope in host.scopes:
            path = host.path(scope, project_dir=project_dir, home=home, platform=platform)
            if not path.is_file() or path.resolve() in seen:  # e.g. project == home: one file, two scopes
                continue
            seen.add(path.resolve())
            try:
                data = _load(path, host.fmt == "toml")
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                report.add(
                    "warn",
                    f"host {host.title} ({scope})",
                    f"cannot read {path} ({_first_line(exc)}); doctor cannot tell whether runapi is set up there.",
                )
                continue
            servers = data.get(host.container)
            if isinstance(servers, dict) and SERVER_NAME in servers:
                found.append(Configured(host, scope, path, cast(dict[str, Any], servers)[SERVER_NAME]))
    return found


async def check_configured(
    report: Report,
    item: Configured,
    *,
    cwd: Path,
    start: bool,
    start_timeout: float,
    started: dict[tuple[Any, ...], Started | str],
) -> None:
    """One line on how the entry carries the key (only when that is wrong) and one on whether it starts.

    `started` caches spawns by what is spawned, so one command shared by several hosts starts once.
    """
    entry, path, host = item.entry, item.path, item.host
    if not isinstance(entry, dict):
        report.add("FAIL", item.label, f"{path}: the {SERVER_NAME} entry is not an object; run `{_init(item)}`.")
        return
    fields = cast(dict[str, Any], entry)
    env_field: Any = fields.get("env") or {}
    if not isinstance(env_field, dict):
        report.add(
            "FAIL", item.label, f"{path}: `env` of the {SERVER_NAME} entry is not an object; run `{_init(item)}`."
        )
        return
    env = {str(k): v for k, v in cast(dict[Any, Any], env_field).items()}
    _check_key_reference(report, item, env.get(KEY_VAR))

    if fields.get("disabled") is True or fields.get("enabled") is False:
        report.add("warn", item.label, f"{path}: the {SERVER_NAME} entry is switched off in this file")
        return
    url = fields.get("url") or fields.get("serverUrl")
    if isinstance(url, str) or fields.get("type") in _HTTP_TYPES:
        shown = shown_url(url) if isinstance(url, str) else "a URL"
        report.add("ok", item.label, f"{path}: connects to {shown} over HTTP (doctor starts stdio servers only)")
        return
    command: Any = fields.get("command")
    args: Any = fields.get("args") or []
    if not isinstance(command, str) or not command.strip():
        report.add("FAIL", item.label, f"{path}: the {SERVER_NAME} entry has no command; run `{_init(item)}`.")
        return
    if not isinstance(args, list) or not all(isinstance(a, str) for a in cast(list[Any], args)):
        report.add("FAIL", item.label, f"{path}: `args` of the {SERVER_NAME} entry is not a list of strings.")
        return
    argv = [str(a) for a in cast(list[Any], args)]
    shown_cmd = shlex.join([command, *argv])

    executable = _executable(command, cwd)
    bare = Path(command).name == command
    if executable is None and not bare:
        report.add("FAIL", item.label, f"{path}: `{shown_cmd}` cannot start: {command} is missing or not executable.")
        return
    if executable is None:
        report.add(
            "warn",
            item.label,
            f"{path}: `{command}` is not on this shell's PATH, so doctor did not start `{shown_cmd}`. Install it, "
            f'or write a full path with `{_init(item)} --command "/full/path/to/runapi-mcp"`.',
        )
        return
    caveat = ""
    if bare and host.needs_full_path:
        caveat = (
            f". But {host.title} starts servers with a bare PATH and may not find `{command}`: "
            f"`{_init(item)}` writes the full path."
        )
    if not start:
        detail = f"{path}: runs `{shown_cmd}` (not started: --no-start){caveat}"
        report.add("warn" if caveat else "ok", item.label, detail)
        return

    spawn_env = {k: v for k, v in env.items() if isinstance(v, str) and not is_placeholder(v)}
    key = (executable, tuple(argv), tuple(sorted(spawn_env.items())), str(cwd))
    if key not in started:
        started[key] = await start_server(executable, argv, env=spawn_env, cwd=cwd, start_timeout=start_timeout)
    outcome = started[key]
    if isinstance(outcome, str):
        hint = " A first `uvx` run downloads the package: run doctor again." if Path(command).stem == "uvx" else ""
        report.add("FAIL", item.label, f"{path}: `{shown_cmd}` did not start: {outcome}.{hint}")
        return
    if _EXPECTED_TOOL not in outcome.tools:
        report.add(
            "warn",
            item.label,
            f"{path}: `{shown_cmd}` starts, but lists no {_EXPECTED_TOOL} tool: is it runapi-mcp?",
        )
        return
    report.add(
        "warn" if caveat else "ok",
        item.label,
        f"{path}: `{shown_cmd}` starts and lists {len(outcome.tools)} tools ({outcome.seconds:.1f} s){caveat}",
    )


async def start_server(
    command: str, args: list[str], *, env: Mapping[str, str], cwd: Path, start_timeout: float
) -> Started | str:
    """Start a stdio MCP server, list its tools and stop it; a one-line reason when that fails."""
    begun = time.monotonic()
    params = StdioServerParameters(command=command, args=args, env=dict(env), cwd=str(cwd))
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            with anyio.fail_after(start_timeout):
                async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=start_timeout) as client:
                    listed = await client.list_tools()
        except TimeoutError:
            return f"no answer within {start_timeout:g} s{_stderr_tail(errlog)}"
        except Exception as exc:  # whatever a broken server does, the report says it in one line
            return f"{_reason(exc)}{_stderr_tail(errlog)}"
    return Started(tuple(t.name for t in listed.tools), time.monotonic() - begun)


def _check_key_reference(report: Report, item: Configured, value: Any) -> None:
    if not isinstance(value, str):
        return
    if not is_placeholder(value):
        report.hide([value])  # a key written into the file: it may surface in the server's messages
        return
    host = item.host
    if host.key_reference is None:
        report.add(
            "FAIL",
            item.label,
            f"{item.path} sets {KEY_VAR} to `{value}`, but {host.title} expands no variables there: the server "
            f"would receive that text as its key. Run `{_init(item)}` again (add --write-key to store the key).",
        )
    elif value != host.key_reference:
        report.add(
            "warn",
            item.label,
            f"{item.path} sets {KEY_VAR} to `{value}`; for {host.title} init writes `{host.key_reference}`. "
            f"If {host.title} does not expand `{value}`, the server receives that text as its key.",
        )


def _executable(command: str, cwd: Path) -> str | None:
    path = Path(command).expanduser()
    if path.name == command:
        return shutil.which(command)
    if not path.is_absolute():
        path = cwd / path  # hosts start the server in the project folder
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def _load(path: Path, toml: bool) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data: Any = tomllib.loads(text) if toml else json.loads(text) if text.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("the top level is not an object")
    return cast(dict[str, Any], data)


def _init(item: Configured) -> str:
    return f"runapi-mcp init {item.host.name}" + (" --user" if item.scope == "user" else "")


def _reason(exc: BaseException) -> str:
    # anyio task groups wrap the real failure; the innermost one says what happened.
    inner = exc
    for _ in range(10):
        nested: Any = getattr(inner, "exceptions", None)  # set on exception groups
        if not isinstance(nested, tuple) or not nested or not isinstance(nested[0], BaseException):
            break
        inner = nested[0]
    message = _first_line(inner)
    if "connection closed" in message.lower():
        return "it exited before answering"
    return f"{type(inner).__name__}: {message}" if message else type(inner).__name__


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


def _stderr_tail(errlog: TextIO) -> str:
    """The server's last words on stderr, which usually say why it stopped."""
    try:
        errlog.seek(0)
        lines = [line.strip() for line in errlog.read().splitlines() if line.strip()]
    except (OSError, ValueError):
        return ""
    return f" (its last output: {lines[-1][:300]})" if lines else ""
