"""Calls above RUNAPI_MCP_CONFIRM_ABOVE: the user is asked through form elicitation (on both protocol
generations) and the call runs only when they accept; a client that cannot be asked gets the next step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.server import build_server
from tests.support.environments import server_settings as make_settings
from tests.support.mcp_http import text_of
from tests.support.sandboxes import sandbox_in_loop

pytestmark = pytest.mark.anyio

# Both generations: 2025-era connections get a standalone elicitation request mid-call, 2026-07-28 ones an
# input-required result that the client answers by retrying.
MODES = ["legacy", "2026-07-28"]
FOUR_AT_4K = {"prompt": "a lighthouse", "count": 4, "output_resolution": "4k"}  # $0.64


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with sandbox_in_loop() as sb:
        yield sb


class User:
    """The person behind the client: answers each question with `action` (and `confirm`), and remembers it."""

    def __init__(self, action: str, confirm: bool = True) -> None:
        self.action, self.confirm = action, confirm
        self.asked: list[str] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        content: dict[str, Any] | None = {"confirm": self.confirm} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


def tasks_made(sandbox: RunningSandbox) -> int:
    return len(sandbox.ledger()["tasks"])


@pytest.mark.parametrize("mode", MODES)
async def test_a_call_above_the_threshold_runs_only_after_the_user_accepts(
    tmp_path: Path, sandbox: RunningSandbox, mode: str
) -> None:
    user = User("accept")
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_CONFIRM_ABOVE="0.50")
    async with Client(build_server(settings), mode=mode, elicitation_callback=user) as client:  # type: ignore[arg-type]
        result = await client.call_tool("generate_image", FOUR_AT_4K)
    assert not result.is_error, text_of(result)
    assert len(user.asked) == 1 and "4 x 4k" in user.asked[0] and "$0.64" in user.asked[0], user.asked
    assert tasks_made(sandbox) == 4


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("action", "confirm"), [("decline", False), ("cancel", False), ("accept", False)])
async def test_a_declined_or_unconfirmed_call_creates_nothing(
    tmp_path: Path, sandbox: RunningSandbox, mode: str, action: str, confirm: bool
) -> None:
    user = User(action, confirm)
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_CONFIRM_ABOVE="0.50")
    async with Client(build_server(settings), mode=mode, elicitation_callback=user) as client:  # type: ignore[arg-type]
        result = await client.call_tool("generate_image", FOUR_AT_4K)
    assert result.is_error and "did not approve" in text_of(result) and "nothing was created" in text_of(result)
    assert len(user.asked) == 1
    assert tasks_made(sandbox) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_call_at_or_below_the_threshold_is_not_asked(
    tmp_path: Path, sandbox: RunningSandbox, mode: str
) -> None:
    user = User("decline")
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_CONFIRM_ABOVE="0.16")
    async with Client(build_server(settings), mode=mode, elicitation_callback=user) as client:  # type: ignore[arg-type]
        result = await client.call_tool("generate_image", {"prompt": "a gull", "output_resolution": "4k"})
        edit = await client.call_tool(
            "edit_image", {"prompt": "make it night", "images": [f"task:{_task_id(result)}"], "output_resolution": "4k"}
        )
    assert not result.is_error and not edit.is_error, text_of(edit)
    assert user.asked == []
    assert tasks_made(sandbox) == 2


async def test_an_edit_above_the_threshold_is_asked_too(tmp_path: Path, sandbox: RunningSandbox) -> None:
    user = User("decline")
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_CONFIRM_ABOVE="0.10")
    async with Client(build_server(settings), elicitation_callback=user) as client:  # type: ignore[arg-type]
        first = await client.call_tool("generate_image", {"prompt": "a gull"})  # $0.06: not asked
        edit = await client.call_tool(
            "edit_image", {"prompt": "make it night", "images": [f"task:{_task_id(first)}"], "output_resolution": "4k"}
        )
    assert edit.is_error and "did not approve" in text_of(edit)
    assert len(user.asked) == 1 and "edit_image" in user.asked[0] and "$0.16" in user.asked[0]
    assert tasks_made(sandbox) == 1


async def test_a_client_without_form_elicitation_is_refused_with_the_next_step(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_CONFIRM_ABOVE="0.50")
    async with Client(build_server(settings), mode="legacy") as client:
        result = await client.call_tool("generate_image", FOUR_AT_4K)
    text = text_of(result)
    assert result.is_error and "$0.64" in text and "$0.50" in text and "RUNAPI_MCP_CONFIRM_ABOVE" in text, text
    assert "cannot ask" in text and "Nothing was created" in text and "Traceback" not in text
    assert tasks_made(sandbox) == 0


async def test_a_retry_of_created_tasks_is_not_asked_again(tmp_path: Path, sandbox: RunningSandbox) -> None:
    user = User("accept")
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_CONFIRM_ABOVE="0.50")
    arguments = {**FOUR_AT_4K, "idempotency_key": "lighthouse-4"}
    async with Client(build_server(settings), elicitation_callback=user) as client:  # type: ignore[arg-type]
        first = await client.call_tool("generate_image", arguments)
        again = await client.call_tool("generate_image", arguments)
    assert not first.is_error and not again.is_error, text_of(again)
    assert len(user.asked) == 1
    assert tasks_made(sandbox) == 4


def _task_id(result: Any) -> str:
    structured = result.structured_content or {}
    tasks = structured.get("tasks") or []
    if tasks:
        return str(tasks[0]["task_id"])
    import re

    found = re.search(r"task[_ ]id[\"':= ]+([\w-]+)", text_of(result))
    assert found, text_of(result)
    return found.group(1)
