"""Every tool's error paths: each failure is one or two sentences with the next step, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from tests.server.helpers import TEST_KEY, ClientFactory, make_settings, text_of

pytestmark = pytest.mark.anyio

CREATE = "/api/v1/gpt_image_2/text_to_image"


async def script_faults(sandbox: RunningSandbox, *faults: dict[str, Any]) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(f"{sandbox.url}/_sandbox/faults", json={"faults": list(faults)})
        response.raise_for_status()


def assert_short_actionable(text: str) -> None:
    assert "Traceback" not in text and "pydantic" not in text and len(text) < 600, text


async def test_invalid_enum_is_refused_in_one_line_naming_the_field(connect: ClientFactory) -> None:
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "aspect_ratio": "7:5"})
        follow_up = await client.call_tool("list_tasks", {})
    assert result.is_error
    text = text_of(result)
    assert "aspect_ratio" in text and "16:9" in text and "errors.pydantic.dev" not in text
    assert_short_actionable(text)
    assert not follow_up.is_error


async def test_missing_prompt_and_count_out_of_range_are_refused(connect: ClientFactory) -> None:
    async with connect() as client:
        missing = await client.call_tool("generate_image", {})
        too_many = await client.call_tool("generate_image", {"prompt": "x", "count": 9})
    assert missing.is_error and "prompt: is required" in text_of(missing)
    assert too_many.is_error and "count" in text_of(too_many)


async def test_wrong_key_gives_401_message_with_next_step(tmp_path: Path) -> None:
    async with (
        running_sandbox(SandboxConfig(latency=0.05, accepted_keys=frozenset({"the-right-key"}))) as sandbox,
        Client(build_server(make_settings(tmp_path, sandbox.url))) as client,
    ):
        result = await client.call_tool("generate_image", {"prompt": "x"})
    assert result.is_error
    text = text_of(result)
    assert "401" in text and "RUNAPI_API_KEY" in text and TEST_KEY not in text
    assert_short_actionable(text)


async def test_no_key_still_serves_pricing_and_list_but_generate_says_how_to_set_it(
    connect: ClientFactory,
) -> None:
    async with connect(RUNAPI_API_KEY="") as client:
        pricing = await client.call_tool("get_pricing", {})
        listing = await client.call_tool("list_tasks", {})
        generate = await client.call_tool("generate_image", {"prompt": "x"})
        balance = await client.call_tool("get_balance", {})
    assert not pricing.is_error and "$0.06" in text_of(pricing)
    assert not listing.is_error
    for result in (generate, balance):
        assert result.is_error
        assert "RUNAPI_API_KEY" in text_of(result) and "--sandbox" in text_of(result)


async def test_insufficient_balance_gives_402_and_no_charge(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    sandbox.state.ledger.set_balance(5)
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "output_resolution": "4k"})
    assert result.is_error and "402" in text_of(result) and "get_balance" in text_of(result)
    assert sandbox.ledger()["totals"]["tasks"] == 0


async def test_unknown_task_id_is_404_with_a_pointer_to_list_tasks(connect: ClientFactory) -> None:
    async with connect() as client:
        result = await client.call_tool("get_task", {"task_id": "0b7c4c8e-9a51-4f0e-8c3e-5d0f1d2a3b4c"})
    assert result.is_error and "list_tasks" in text_of(result)


async def test_reused_idempotency_key_with_other_prompt_is_refused(connect: ClientFactory) -> None:
    async with connect() as client:
        first = await client.call_tool("generate_image", {"prompt": "one", "idempotency_key": "k-1"})
        second = await client.call_tool("generate_image", {"prompt": "two", "idempotency_key": "k-1"})
    assert not first.is_error
    assert second.is_error and "idempotency_key" in text_of(second)


async def test_same_idempotency_key_and_prompt_returns_the_same_task_charged_once(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    async with connect() as client:
        first = await client.call_tool("generate_image", {"prompt": "same", "idempotency_key": "k-2"})
        again = await client.call_tool("generate_image", {"prompt": "same", "idempotency_key": "k-2"})
    assert first.structured_content["tasks"][0]["task_id"] == again.structured_content["tasks"][0]["task_id"]
    assert "not charged again" in text_of(again)
    assert sandbox.ledger()["totals"]["tasks"] == 1


async def test_runapi_409_for_a_key_reused_elsewhere_is_explained(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{sandbox.url}{CREATE}",
            json={"model": "gpt-image-2", "prompt": "from another tool"},
            headers={"Authorization": f"Bearer {TEST_KEY}", "Idempotency-Key": "shared-key"},
        )
        assert response.status_code in (200, 201)
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "ours", "idempotency_key": "shared-key"})
    assert result.is_error and "409" in text_of(result), text_of(result)


async def test_429_until_retries_run_out_says_to_wait_and_keeps_the_key(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "429;retry_after=0", "method": "POST", "path": CREATE, "count": 5})
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "idempotency_key": "rate-1"})
    assert result.is_error
    text = text_of(result)
    assert "rate-1" in text and "generate_image" in text
    assert sandbox.ledger()["totals"]["tasks"] == 0


async def test_503_until_retries_run_out_names_the_key_to_retry_with_and_retry_succeeds_once(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "503", "method": "POST", "path": CREATE, "count": 3})
    async with connect() as client:
        failed = await client.call_tool("generate_image", {"prompt": "x", "idempotency_key": "svc-1"})
        retried = await client.call_tool("generate_image", {"prompt": "x", "idempotency_key": "svc-1"})
        listing = text_of(await client.call_tool("list_tasks", {}))
    assert failed.is_error and "idempotency_key 'svc-1'" in text_of(failed)
    assert not retried.is_error and retried.structured_content["tasks"][0]["status"] == "completed"
    assert sandbox.ledger()["totals"]["tasks"] == 1
    assert "completed" in listing


async def test_lost_create_response_is_recovered_by_the_same_key_without_a_second_task(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "lost-response", "method": "POST", "path": CREATE, "count": 1})
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "lost", "idempotency_key": "lost-1"})
    assert not result.is_error, text_of(result)
    task = result.structured_content["tasks"][0]
    assert task["status"] == "completed"
    ledger = sandbox.ledger()
    assert ledger["totals"]["tasks"] == 1 and ledger["tasks"][0]["charges"] == 1


async def test_failed_task_is_an_error_that_says_it_was_not_billed(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(
        sandbox, {"fault": "fail-task;message=content%20policy", "method": "POST", "path": CREATE, "count": 1}
    )
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "x"})
        failed = text_of(await client.call_tool("list_tasks", {"status": "failed"}))
    assert result.is_error
    text = text_of(result)
    assert "content policy" in text and "not billed" in text
    assert sandbox.ledger()["tasks"][0]["charged_cents"] == 0
    assert "failed" in failed


async def test_wait_budget_running_out_returns_task_id_and_get_task_finishes_it_later(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "slow;seconds=1.5", "method": "POST", "path": CREATE, "count": 1})
    async with connect(RUNAPI_MCP_WAIT_SECONDS="0.3") as client:
        first = await client.call_tool("generate_image", {"prompt": "slow one"})
        assert not first.is_error, text_of(first)
        task = first.structured_content["tasks"][0]
        assert task["status"] in ("pending", "processing") and task["next_action"] == "get_task"
        assert "get_task" in text_of(first) and task["task_id"] in text_of(first)
        done = None
        for _ in range(20):
            done = await client.call_tool("get_task", {"task_id": task["task_id"], "wait": True})
            if done.structured_content["tasks"][0]["status"] == "completed":
                break
    assert done is not None and done.structured_content["tasks"][0]["status"] == "completed"
    assert done.structured_content["tasks"][0]["images"][0]["path"]
    assert sandbox.ledger()["totals"]["tasks"] == 1


async def test_progress_is_reported_on_every_poll_while_waiting(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "slow;seconds=0.4", "method": "POST", "path": CREATE, "count": 1})
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "x"}, progress_callback=on_progress)
    assert not result.is_error
    assert len(seen) >= 3
    assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)
    task_id = result.structured_content["tasks"][0]["task_id"]
    key = result.structured_content["tasks"][0]["idempotency_key"]
    assert seen[0][2] == f"Task {task_id} (idempotency_key {key}) created: queued at RunAPI."
    assert seen[-1][:2] == (3, 3) and "finished" in (seen[-1][2] or "")  # stages, out of 3 per task


async def test_edit_with_path_outside_the_project_is_refused_and_nothing_is_sent(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    async with connect() as client:
        result = await client.call_tool("edit_image", {"prompt": "x", "images": ["/etc/passwd"]})
    assert result.is_error and "/etc/passwd" in text_of(result)
    assert sandbox.ledger()["totals"]["tasks"] == 0


async def test_output_dir_escaping_the_project_is_refused(connect: ClientFactory) -> None:
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "x", "output_dir": "../../elsewhere"})
    assert result.is_error and "output_dir" in text_of(result)


async def test_retried_edit_after_a_restart_resends_the_same_sources_so_runapi_replays_instead_of_409(
    connect: ClientFactory, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    edit = "/api/v1/gpt_image_2/edit_image"
    # The create commits but its answer is lost on every try: the first call ends without a task id.
    await script_faults(sandbox, {"fault": "lost-response", "method": "POST", "path": edit, "count": 3})
    args = {"prompt": "recolour", "images": ["in.png"], "idempotency_key": "edit-retry-1"}
    async with connect() as client:
        from PIL import Image

        Image.new("RGB", (32, 32), (200, 0, 0)).save(tmp_path / "project" / "in.png")
        first = await client.call_tool("edit_image", args)
    assert first.is_error and "edit-retry-1" in text_of(first)
    async with connect() as fresh_server:  # a new process: its upload cache is empty
        second = await fresh_server.call_tool("edit_image", args)
    assert not second.is_error, text_of(second)
    ledger = sandbox.ledger()
    assert ledger["totals"]["tasks"] == 1 and ledger["tasks"][0]["charges"] == 1
