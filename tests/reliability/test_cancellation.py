"""A tool call the client cancels mid-wait leaves its task in the journal, and get_task picks it up again."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from runapi_mcp.sandbox import RunningSandbox
from tests.support.environments import http_settings
from tests.support.mcp_http import mcp_client, serving, text_of
from tests.support.sandboxes import sandbox_in_loop

pytestmark = pytest.mark.anyio

LATENCY = 1.5


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with sandbox_in_loop(latency=LATENCY) as sb:
        yield sb


def journal_row(tmp_path: Path) -> tuple[str, str | None, str]:
    with sqlite3.connect(tmp_path / "state" / "journal.sqlite3") as conn:
        (row,) = conn.execute("SELECT idempotency_key, task_id, status FROM tasks").fetchall()
    return row


@pytest.mark.parametrize("legacy", [True, False], ids=["notifications-cancelled", "modern-abort"])
async def test_call_cancelled_mid_wait_keeps_the_task_and_get_task_resumes_it_charged_once(
    tmp_path: Path, sandbox: RunningSandbox, legacy: bool
) -> None:
    """A cancelled call stops its handler but keeps the task's journal row; get_task later finishes it, charged once."""
    async with serving(http_settings(tmp_path, sandbox.url)) as url, mcp_client(url, legacy=legacy) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.call_tool, "generate_image", {"prompt": "cancel me", "wait": True})
            with anyio.fail_after(10):
                while not sandbox.state.tasks:  # noqa: ASYNC110 - created, so the call is now polling
                    await anyio.sleep(0.01)
            await anyio.sleep(0.2)
            cancelled_at = time.monotonic()
            group.cancel_scope.cancel()
        # Past the task's finish: a handler still running would have completed the row by now.
        await anyio.sleep(LATENCY + 0.5 - (time.monotonic() - cancelled_at))
        key, task_id, status = journal_row(tmp_path)
        (made,) = sandbox.state.tasks
        assert task_id is not None and task_id == made and status in ("pending", "processing")
        assert sandbox.ledger()["tasks"][0]["status"] == "completed"

        listing = text_of(await client.call_tool("list_tasks", {}))
        resumed = await client.call_tool("get_task", {"task_id": task_id, "wait": True})
    assert task_id in listing
    assert not resumed.is_error, text_of(resumed)
    task = resumed.structured_content["tasks"][0]
    assert task["status"] == "completed" and Path(task["images"][0]["path"]).is_file()
    assert journal_row(tmp_path) == (key, task_id, "completed")
    ledger = sandbox.ledger()
    assert ledger["totals"]["tasks"] == 1 and ledger["tasks"][0]["charges"] == 1
