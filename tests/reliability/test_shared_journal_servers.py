"""Two real server processes sharing one journal (two host windows on one machine) lose no task."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from runapi_mcp.sandbox import SandboxThread
from tests.support.environments import server_process_env
from tests.support.mcp_http import text_of
from tests.support.processes import http_server_process
from tests.support.sandboxes import sandbox_on_thread

pytestmark = pytest.mark.anyio

CALLS_PER_SERVER = 8


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    """On its own thread: the test blocks while two server processes talk to it."""
    with sandbox_on_thread(latency=0.2, balance_cents=100_000) as sb:
        yield sb


async def test_two_servers_on_one_journal_record_every_task_of_both(tmp_path: Path, sandbox: SandboxThread) -> None:
    env = server_process_env(
        tmp_path,
        sandbox.url,
        RUNAPI_API_KEY="sk-two-servers-1",
        RUNAPI_MCP_STATE_DIR=str(tmp_path / "shared-state"),
        RUNAPI_MCP_POLL_INITIAL_SECONDS="0.02",
        RUNAPI_MCP_POLL_MAX_SECONDS="0.1",
        RUNAPI_MCP_PREVIEW="off",
        RUNAPI_MCP_WAIT_SECONDS="",
        RUNAPI_MCP_MAX_RETRIES="",
    )
    results: list[tuple[str, object]] = []
    with (
        http_server_process(tmp_path, env, name="left") as (left, _),
        http_server_process(tmp_path, env, name="right") as (right, _),
    ):

        async def calls(url: str, side: str) -> None:
            async with Client(f"{url}/mcp", read_timeout_seconds=60) as client, anyio.create_task_group() as group:
                for i in range(CALLS_PER_SERVER):

                    async def one(i: int = i) -> None:
                        result = await client.call_tool("generate_image", {"prompt": f"{side} {i}"})
                        results.append((f"{side} {i}", result))

                    group.start_soon(one)

        with anyio.fail_after(90):
            async with anyio.create_task_group() as group:
                group.start_soon(calls, left, "left")
                group.start_soon(calls, right, "right")
        ledger = sandbox.ledger()
    for name, result in results:
        assert not result.is_error, f"{name}: {text_of(result)}"  # type: ignore[attr-defined]
    with sqlite3.connect(tmp_path / "shared-state" / "journal.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        journal = dict(conn.execute("SELECT task_id, status FROM tasks").fetchall())
    made = {task["id"] for task in ledger["tasks"]}
    assert len(made) == 2 * CALLS_PER_SERVER == len(results)
    assert set(journal) == made and set(journal.values()) == {"completed"}
