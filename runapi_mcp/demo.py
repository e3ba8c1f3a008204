"""`runapi-mcp demo`: a newcomer's first command. No key needed.

Starts this server as a real subprocess over stdio against its in-process sandbox, connects a real MCP
client session, generates an image and edits it, and prints what came back and where the files are.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import get_default_environment
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent


def run_demo(output_dir: str) -> int:
    try:
        return anyio.run(_demo, Path(output_dir).absolute())
    except Exception as exc:  # the demo's one job is to tell a newcomer what happened
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1


async def _demo(output_dir: Path) -> int:
    # The SDK's minimal environment (PATH, HOME, ...), as a host would give it: no key is needed or passed.
    env = {
        **get_default_environment(),
        "RUNAPI_MCP_SANDBOX_LATENCY": "1.5",
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.5",
    }
    if state_dir := os.environ.get("RUNAPI_MCP_STATE_DIR", "").strip():
        env["RUNAPI_MCP_STATE_DIR"] = state_dir  # so the state is where the line below says
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "runapi_mcp", "--sandbox"], env=env, cwd=os.getcwd()
    )
    started = time.monotonic()
    async with Client(params, read_timeout_seconds=120) as client:
        tools = await client.list_tools()
        print(f"Connected over stdio; tools: {', '.join(t.name for t in tools.tools)}")
        price = await client.call_tool("get_pricing", {"output_resolution": "1k"})
        print(_text(price))

        print("\n1. generate_image: a lighthouse at dusk, 16:9, 1k")
        generated = await client.call_tool(
            "generate_image",
            {
                "prompt": "A lighthouse at dusk, watercolor",
                "aspect_ratio": "16:9",
                "output_resolution": "1k",
                "output_dir": str(output_dir),
            },
        )
        _show(generated)
        if generated.is_error:
            return 1
        task_id = _first_task_id(generated)

        print(f"\n2. edit_image on task:{task_id}: add a red sailing boat")
        edited = await client.call_tool(
            "edit_image",
            {"prompt": "Add a small red sailing boat", "images": [f"task:{task_id}"], "output_dir": str(output_dir)},
        )
        _show(edited)
        if edited.is_error:
            return 1
        listing = await client.call_tool("list_tasks", {"limit": 2})
        print("\n3. list_tasks:\n" + _text(listing))
    print(f"\nDone in {time.monotonic() - started:.1f} s. Images are in {output_dir}.")
    from runapi_mcp.sandbox.state_files import default_state_dir, saved_account_line  # the sandbox's, only now

    print(saved_account_line(default_state_dir()))
    print("Next: set RUNAPI_API_KEY and add the server to your agent (see README: Quick start).")
    return 0


def _text(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def _show(result: CallToolResult) -> None:
    print(_text(result))
    previews = [c for c in result.content if isinstance(c, ImageContent)]
    links = [c for c in result.content if isinstance(c, ResourceLink)]
    print(f"({len(previews)} preview image(s) for the model, {len(links)} resource link(s))")


def _first_task_id(result: CallToolResult) -> str:
    data: dict[str, Any] = result.structured_content or {}
    tasks: list[dict[str, Any]] = data.get("tasks") or []
    if tasks and tasks[0].get("task_id"):
        return str(tasks[0]["task_id"])
    raise RuntimeError("the generate result carried no task id")
