"""Issue 11, classes 4 and 5: one wait budget bounds the whole call, and polling has a floor.

Each test drives the real server against the real sandbox with the fault the sandbox injects.
"""

from __future__ import annotations

import time

import pytest

from runapi_mcp.sandbox import RunningSandbox
from tests.polling.conftest import CREATE, STATUS, script_faults, task_of
from tests.server.helpers import ClientFactory, text_of

pytestmark = pytest.mark.anyio

# Steady 0.2 s polls: fast enough for tests, slow enough that the floor and the budget are what is tested.
POLL = {"RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.2", "RUNAPI_MCP_POLL_MAX_SECONDS": "0.2"}
BUDGET = 1.5
# What the call may run past its budget: a read or a create is given at least a moment, then the answer.
SLACK = 1.0


async def test_a_status_read_held_past_the_budget_is_cut_off_and_the_task_id_returned(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "slow-read;seconds=8", "method": "GET", "path": STATUS, "count": 20})
    async with connect(RUNAPI_MCP_WAIT_SECONDS=str(BUDGET), **POLL) as client:
        started = time.monotonic()
        result = await client.call_tool("generate_image", {"prompt": "slow reads"})
        elapsed = time.monotonic() - started
    task = task_of(result)
    assert elapsed < BUDGET + SLACK, elapsed
    assert task["task_id"] and task["next_action"] == "get_task", text_of(result)
    assert sandbox.ledger()["totals"]["tasks"] == 1


async def test_a_create_told_to_retry_after_30_s_does_not_wait_past_the_budget(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "429;retry_after=30", "method": "POST", "path": CREATE, "count": 1})
    async with connect(RUNAPI_MCP_WAIT_SECONDS=str(BUDGET), **POLL) as client:
        started = time.monotonic()
        result = await client.call_tool("generate_image", {"prompt": "rate limited", "idempotency_key": "logo#v2"})
        elapsed = time.monotonic() - started
    # The create gets MIN_CREATE_SECONDS (3 s) at least; far from the 30 s RunAPI asked for.
    assert elapsed < 3.0 + SLACK, elapsed
    text = text_of(result)
    assert "logo#v2" in text and "generate_image" in text, text


async def test_a_download_slower_than_the_budget_returns_the_url_and_get_task_saves_it(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "slow-read;seconds=6", "method": "GET", "path": "/files/*", "count": 1})
    async with connect(RUNAPI_MCP_WAIT_SECONDS=str(BUDGET), **POLL) as client:
        started = time.monotonic()
        result = await client.call_tool("generate_image", {"prompt": "slow download"})
        elapsed = time.monotonic() - started
        task = task_of(result)
        later = await client.call_tool("get_task", {"task_id": task["task_id"], "wait": True})
    assert elapsed < BUDGET + SLACK, elapsed
    assert task["status"] == "completed" and not task["images"][0].get("path"), text_of(result)
    assert "get_task" in text_of(result)
    assert task_of(later)["images"][0]["path"], text_of(later)
    assert sandbox.ledger()["totals"]["tasks"] == 1


async def test_a_tiny_retry_after_cannot_make_reads_faster_than_the_floor(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "slow;seconds=2", "method": "POST", "path": CREATE, "count": 1})
    await script_faults(
        sandbox, {"fault": "tiny-retry-after;seconds=0.001", "method": "GET", "path": STATUS, "count": 1000}
    )
    async with connect(RUNAPI_MCP_WAIT_SECONDS="10", **POLL) as client:
        result = await client.call_tool("generate_image", {"prompt": "hinted"})
    assert task_of(result)["status"] == "completed", text_of(result)
    # 2 s at one read per 0.2 s floor (the schedule's start caps the floor) is about 10; 0.001 s would be 2000.
    assert sandbox.state.requests["status"] <= 14, sandbox.state.requests


@pytest.mark.parametrize("fault", ["unknown-status;word=moderating", "empty-status"])
async def test_a_status_this_version_does_not_know_is_reported_as_unknown_with_the_next_step(
    connect: ClientFactory, sandbox: RunningSandbox, fault: str
) -> None:
    await script_faults(sandbox, {"fault": "slow;seconds=30", "method": "POST", "path": CREATE, "count": 1})
    await script_faults(sandbox, {"fault": fault, "method": "GET", "path": STATUS, "count": 1000})
    async with connect(RUNAPI_MCP_WAIT_SECONDS="20", **POLL) as client:
        started = time.monotonic()
        result = await client.call_tool("generate_image", {"prompt": "odd status"})
        elapsed = time.monotonic() - started
    task = task_of(result)
    text = text_of(result)
    assert task["status"] == "unknown" and task["task_id"] and task["next_action"] == "get_task", text
    assert ("moderating" in text) if "word" in fault else ("empty status" in text), text
    # Bounded: a handful of reads, not the whole 20 s budget of them.
    assert sandbox.state.requests["status"] <= 6 and elapsed < 5, (sandbox.state.requests, elapsed)


async def test_a_completed_task_with_no_images_is_not_reported_as_a_success(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "no-images", "method": "POST", "path": CREATE, "count": 1})
    async with connect(RUNAPI_MCP_WAIT_SECONDS="10", **POLL) as client:
        result = await client.call_tool("generate_image", {"prompt": "nothing back"})
        history = text_of(await client.call_tool("list_tasks", {}))
    task = task_of(result)
    text = text_of(result)
    assert task["status"] != "completed" and task["next_action"] == "get_task", text
    assert "no images" in text and task["task_id"] in text, text
    assert "completed" not in history.split(task["task_id"][:8])[-1].splitlines()[0], history
