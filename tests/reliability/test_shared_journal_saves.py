"""Two real server processes on one journal following one task at once save its image once, at one path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from runapi_mcp.sandbox import SandboxThread
from tests.support.environments import server_process_env
from tests.support.mcp_http import text_of
from tests.support.processes import http_server_process
from tests.support.sandboxes import sandbox_on_thread

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with sandbox_on_thread(latency=0.05, balance_cents=100_000) as sb:
        yield sb


async def test_two_servers_following_one_task_at_once_save_one_file_and_both_name_it(
    tmp_path: Path, sandbox: SandboxThread
) -> None:
    images = tmp_path / "shared-images"
    env = server_process_env(
        tmp_path,
        sandbox.url,
        RUNAPI_API_KEY="sk-two-servers-saves",
        RUNAPI_MCP_STATE_DIR=str(tmp_path / "shared-state"),
        RUNAPI_MCP_OUTPUT_DIR=str(images),
        RUNAPI_MCP_POLL_INITIAL_SECONDS="0.05",
        RUNAPI_MCP_POLL_MAX_SECONDS="0.1",
        RUNAPI_MCP_PREVIEW="off",
    )
    with (
        http_server_process(tmp_path, env, name="left") as (left, _),
        http_server_process(tmp_path, env, name="right") as (right, _),
    ):
        async with Client(f"{left}/mcp", read_timeout_seconds=60) as client:
            created = await client.call_tool("generate_image", {"prompt": "one harbour", "count": 2, "wait": False})
        tasks = (created.structured_content or {})["tasks"]
        assert len(tasks) == 2, text_of(created)
        # The first download of each image is held, so both servers are saving at the same moment.
        async with httpx2.AsyncClient() as http:
            fault = {"fault": "slow-read;seconds=1.5", "method": "GET", "path": "/files/*", "count": 2}
            (await http.post(f"{sandbox.url}/_sandbox/faults", json={"faults": [fault]})).raise_for_status()
        results: dict[str, list[Any]] = {"left": [], "right": []}

        async def follow(url: str, side: str) -> None:
            async with Client(f"{url}/mcp", read_timeout_seconds=60) as client:
                for task in tasks:
                    results[side].append(await client.call_tool("get_task", {"task_id": task["task_id"], "wait": True}))

        with anyio.fail_after(90):
            async with anyio.create_task_group() as group:
                group.start_soon(follow, left, "left")
                group.start_soon(follow, right, "right")
    paths: dict[str, list[str]] = {}
    for side, side_results in results.items():
        for result in side_results:
            assert not result.is_error, text_of(result)
        paths[side] = [result.structured_content["tasks"][0]["images"][0]["path"] for result in side_results]
    assert all(paths["left"]) and paths["left"] == paths["right"], paths
    saved = sorted(p.name for p in images.iterdir() if p.suffix == ".png")
    assert len(saved) == 2, saved  # one file per image, not one per server
    assert sorted(Path(p).name for p in paths["left"]) == saved
