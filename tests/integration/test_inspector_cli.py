"""The MCP Inspector CLI, a real third-party client, drives the server over stdio."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def inspector() -> str:
    npm_bin = os.environ.get("RUNAPI_MCP_TEST_NPM_BIN", "")
    found = shutil.which("mcp-inspector", path=npm_bin or None) or shutil.which("mcp-inspector")
    if not found:
        pytest.skip("MCP Inspector CLI not installed (npm @modelcontextprotocol/inspector)")
    return found


def run_inspector(tmp_path: Path, *method_args: str) -> dict[str, Any]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    command = [
        inspector(),
        "--cli",
        "-e",
        f"RUNAPI_MCP_STATE_DIR={tmp_path / 'state'}",
        "-e",
        "RUNAPI_MCP_SANDBOX_LATENCY=0.3",
        "-e",
        "RUNAPI_MCP_POLL_INITIAL_SECONDS=0.05",
        "-e",
        f"HOME={tmp_path / 'home'}",
        sys.executable,
        "-m",
        "runapi_mcp",
        "--sandbox",
        *method_args,
    ]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_inspector_lists_the_six_tools(tmp_path: Path) -> None:
    listing = run_inspector(tmp_path, "--method", "tools/list")
    names = {tool["name"] for tool in listing["tools"]}
    assert names == {"generate_image", "edit_image", "get_task", "list_tasks", "get_pricing", "get_balance"}


def test_inspector_calls_generate_image_and_gets_a_saved_png(tmp_path: Path) -> None:
    """A third-party client's generate gets a completed task, a PNG in the project and text, image and link blocks."""
    result = run_inspector(
        tmp_path,
        "--method",
        "tools/call",
        "--tool-name",
        "generate_image",
        "--tool-arg",
        "prompt=an inspector badge",
        "--tool-arg",
        "aspect_ratio=3:2",
    )
    assert not result.get("isError"), result
    task = result["structuredContent"]["tasks"][0]
    assert task["status"] == "completed"
    path = Path(task["images"][0]["path"])
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.parent == tmp_path / "project" / "runapi-images"
    kinds = [block["type"] for block in result["content"]]
    assert kinds == ["text", "image", "resource_link"]
