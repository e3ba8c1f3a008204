"""A create cut off mid-way (the process killed after the intent was journaled, before the answer came back)
leaves a "submitting" row: list_tasks shows it with its next step, and get_task with its key resolves it
without a second charge, whether or not the create reached RunAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from runapi_mcp.core.journal import TaskParams, sqlite_journal
from runapi_mcp.runapi.client import RunAPIClient, build_request
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from tests.server.helpers import TEST_KEY, make_settings, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.02, balance_cents=10_000, status_retry_after=0.01)) as sb:
        yield sb


async def cut_off_create(tmp_path: Path, sandbox: RunningSandbox, key: str, *, reached_runapi: bool) -> None:
    """What the server had done when it was killed: the intent journaled, the create perhaps sent."""
    journal = sqlite_journal(tmp_path / "state" / "journal.sqlite3")
    try:
        await journal.record_intent(
            idempotency_key=key,
            action="text_to_image",
            params=TaskParams(prompt="a fox"),
            output_dir=str(tmp_path / "project" / "runapi-images"),
        )
    finally:
        await journal.close()
    if reached_runapi:
        async with httpx2.AsyncClient() as http:
            client = RunAPIClient(http, base_url=sandbox.url, api_key=SecretStr(TEST_KEY))
            await client.create_task(
                "text_to_image", build_request("text_to_image", prompt="a fox"), idempotency_key=key
            )


@pytest.mark.parametrize("reached_runapi", [True, False])
async def test_a_submitting_row_shows_its_next_step_and_get_task_with_its_key_resolves_it(
    tmp_path: Path, sandbox: RunningSandbox, reached_runapi: bool
) -> None:
    settings = make_settings(tmp_path, sandbox.url)
    async with Client(build_server(settings)) as client:
        await client.call_tool("list_tasks", {})  # the server made its journal
        await cut_off_create(tmp_path, sandbox, "poster#v2", reached_runapi=reached_runapi)
        listed = text_of(await client.call_tool("list_tasks", {}))
        assert "submitting" in listed and "get_task with task_id 'poster#v2'" in listed, listed
        resolved = await client.call_tool("get_task", {"task_id": "poster#v2", "wait": True})
        assert not resolved.is_error, text_of(resolved)
        task = resolved.structured_content["tasks"][0]  # pyright: ignore[reportOptionalSubscript]
        assert task["status"] == "completed" and task["task_id"]
        again = await client.call_tool("generate_image", {"prompt": "a fox", "idempotency_key": "poster#v2"})
        assert again.structured_content["tasks"][0]["task_id"] == task["task_id"]  # pyright: ignore[reportOptionalSubscript]
    assert len(sandbox.state.tasks) == 1
