"""doctor finds the hosts that have the runapi server configured and starts the command they would run."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from mcp import Client
from pydantic import SecretStr

from runapi_mcp.server import build_server
from tests.doctor.helpers import (
    SANDBOX_COMMAND,
    TEST_KEY,
    lines,
    one,
    run_async,
    run_sync,
    write_host_config,
)
from tests.support.environments import home_dir, offline_settings
from tests.support.sandboxes import sandbox_in_loop


async def _tool_count(tmp_path: Path) -> int:
    async with Client(build_server(offline_settings(tmp_path, RUNAPI_MCP_SANDBOX="true"))) as client:
        return len((await client.list_tools()).tools)


@pytest.mark.anyio
async def test_project_config_written_by_init_is_found_and_its_command_starts(tmp_path: Path) -> None:
    path = write_host_config("claude", tmp_path, SANDBOX_COMMAND)
    settings = offline_settings(tmp_path, RUNAPI_MCP_SANDBOX="true")

    code, text = await run_async(tmp_path, settings)

    assert code == 0, text
    line = one(text, "host Claude Code (project)")
    shown = shlex.join([sys.executable, "-m", "runapi_mcp", "--sandbox"])
    assert line.startswith(f"ok    host Claude Code (project): {path}: `{shown}` starts and lists ")
    assert f"lists {await _tool_count(tmp_path)} tools (" in line
    assert lines(text, "hosts") == []


@pytest.mark.anyio
async def test_a_key_written_into_a_host_config_never_appears(tmp_path: Path) -> None:
    write_host_config("cursor", tmp_path, SANDBOX_COMMAND, user=True, write_key=SecretStr(TEST_KEY))
    async with sandbox_in_loop(latency=0) as sandbox:
        settings = offline_settings(tmp_path, RUNAPI_BASE_URL=sandbox.url, RUNAPI_API_KEY=TEST_KEY)

        code, text = await run_async(tmp_path, settings)

    assert code == 0, text
    assert one(text, "host Cursor (user)").startswith("ok    host Cursor (user): ")
    assert TEST_KEY not in text


def test_missing_absolute_command_fails_and_bare_command_off_path_warns(tmp_path: Path) -> None:
    """A host entry whose absolute command is missing fails; a bare command not on PATH only warns."""
    write_host_config("codex", tmp_path, "/nonexistent/bin/runapi-mcp")
    write_host_config("cursor", tmp_path, "no-such-runapi-launcher-9f2 runapi-mcp")
    settings = offline_settings(tmp_path, RUNAPI_MCP_SANDBOX="true")

    code, text = run_sync(tmp_path, settings, start_timeout=5)

    assert code == 1
    codex = one(text, "host Codex (project)")
    assert codex.startswith("FAIL  host Codex (project): ")
    assert "/nonexistent/bin/runapi-mcp is missing or not executable" in codex
    cursor = one(text, "host Cursor (project)")
    assert cursor.startswith("warn  host Cursor (project): ")
    assert "`no-such-runapi-launcher-9f2` is not on this shell's PATH" in cursor
    assert "runapi-mcp init cursor --command" in cursor


def test_reference_a_host_does_not_expand_is_a_failure(tmp_path: Path) -> None:
    # Claude Desktop expands nothing: a Cursor-style reference would reach the server as the key itself.
    path = home_dir(tmp_path) / ".config" / "Claude" / "claude_desktop_config.json"
    path.parent.mkdir(parents=True)
    reference = "${env:RUNAPI_API_KEY}"
    entry = {"command": sys.executable, "args": ["-m", "runapi_mcp"], "env": {"RUNAPI_API_KEY": reference}}
    path.write_text(json.dumps({"mcpServers": {"runapi": entry}}))
    settings = offline_settings(tmp_path, RUNAPI_MCP_SANDBOX="true")

    code, text = run_sync(tmp_path, settings, start=False)

    assert code == 1
    found = lines(text, "host Claude Desktop (user)")
    assert found[0].startswith(f"FAIL  host Claude Desktop (user): {path} sets RUNAPI_API_KEY to `{reference}`")
    assert "runapi-mcp init claude-desktop --user" in found[0]
    assert found[1].endswith("(not started: --no-start)")


def test_server_that_exits_at_start_fails_with_its_last_words(tmp_path: Path) -> None:
    script = "import sys; print('runapi-mcp: RUNAPI_MCP_PREVIEW must be auto', file=sys.stderr); sys.exit(2)"
    write_host_config("claude", tmp_path, shlex.join([sys.executable, "-c", script]))
    settings = offline_settings(tmp_path, RUNAPI_MCP_SANDBOX="true")

    code, text = run_sync(tmp_path, settings, start_timeout=10)

    assert code == 1
    line = one(text, "host Claude Code (project)")
    assert line.startswith("FAIL  host Claude Code (project): ")
    assert "did not start: it exited before answering (its last output: runapi-mcp: RUNAPI_MCP_PREVIEW" in line


def test_unreadable_host_config_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "project" / ".vscode" / "mcp.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"servers": {}, // a comment VS Code allows\n}')
    settings = offline_settings(tmp_path)

    _, text = run_sync(tmp_path, settings, start=False)

    line = one(text, "host VS Code (project)")
    assert line.startswith(f"warn  host VS Code (project): cannot read {path}")
    assert one(text, "hosts").startswith("warn  hosts: no host config found")


def test_switched_off_entry_is_a_warning_and_not_started(tmp_path: Path) -> None:
    path = tmp_path / "project" / ".cursor" / "mcp.json"
    path.parent.mkdir(parents=True)
    entry = {"command": "/nonexistent/runapi-mcp", "args": [], "disabled": True}
    path.write_text(json.dumps({"mcpServers": {"runapi": entry}}))
    settings = offline_settings(tmp_path, RUNAPI_MCP_SANDBOX="true")

    code, text = run_sync(tmp_path, settings)

    assert code == 0, text
    assert one(text, "host Cursor (project)") == (
        f"warn  host Cursor (project): {path}: the runapi entry is switched off in this file"
    )
