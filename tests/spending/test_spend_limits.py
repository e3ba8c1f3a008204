"""Spend limits in one server: the per-call cap and the daily budget refuse before anything is created,
a failed task gives its reservation back, and get_balance reports today's spend against the budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.server import build_server
from runapi_mcp.settings import Settings, SettingsError
from tests.server.test_tools_errors import CREATE, script_faults
from tests.support.environments import server_settings as make_settings
from tests.support.mcp_http import text_of
from tests.support.sandboxes import sandbox_in_loop

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with sandbox_in_loop() as sb:
        yield sb


def tasks_made(sandbox: RunningSandbox) -> int:
    return len(sandbox.ledger()["tasks"])


async def test_a_call_over_the_per_call_cap_is_refused_with_estimate_cap_and_setting(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_MAX_COST_PER_CALL="0.30")
    async with Client(build_server(settings)) as client:
        refused = await client.call_tool("generate_image", {"prompt": "a fox", "count": 2, "output_resolution": "4k"})
        assert refused.is_error
        text = text_of(refused)
        assert "$0.32" in text and "$0.30" in text and "RUNAPI_MCP_MAX_COST_PER_CALL" in text, text
        assert "Nothing was created" in text and "Traceback" not in text
        assert tasks_made(sandbox) == 0
        allowed = await client.call_tool("generate_image", {"prompt": "a fox", "count": 3})  # 3 x $0.06
        assert not allowed.is_error, text_of(allowed)
    assert tasks_made(sandbox) == 3


async def test_a_call_that_would_pass_the_daily_budget_is_refused_with_nothing_created(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_DAILY_BUDGET="0.20")
    async with Client(build_server(settings)) as client:
        first = await client.call_tool("generate_image", {"prompt": "a fox", "count": 2})  # $0.12
        assert not first.is_error, text_of(first)
        refused = await client.call_tool("generate_image", {"prompt": "a hen", "count": 2})  # $0.12 more
        assert refused.is_error
        text = text_of(refused)
        assert "$0.12" in text and "$0.08" in text and "$0.20" in text and "RUNAPI_MCP_DAILY_BUDGET" in text, text
        assert tasks_made(sandbox) == 2  # the refused call made nothing at RunAPI
        one_more = await client.call_tool("generate_image", {"prompt": "a hen"})  # $0.06 still fits
        assert not one_more.is_error, text_of(one_more)
        balance = text_of(await client.call_tool("get_balance", {}))
    assert tasks_made(sandbox) == 3
    assert "$0.18 spent or reserved of the $0.20 daily budget, $0.02 left" in balance, balance


async def test_a_failed_task_gives_its_reservation_back(tmp_path: Path, sandbox: RunningSandbox) -> None:
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_DAILY_BUDGET="0.06")
    async with Client(build_server(settings)) as client:
        await script_faults(sandbox, {"fault": "fail-task", "method": "POST", "path": CREATE, "count": 1})
        failed = await client.call_tool("generate_image", {"prompt": "a fox"})
        assert failed.is_error and "failed" in text_of(failed).lower(), text_of(failed)
        after_failure = await client.call_tool("generate_image", {"prompt": "a fox again"})
        assert not after_failure.is_error, text_of(after_failure)
        refused = await client.call_tool("generate_image", {"prompt": "one too many"})
        assert refused.is_error and "RUNAPI_MCP_DAILY_BUDGET" in text_of(refused)
    assert tasks_made(sandbox) == 2


async def test_a_retry_with_the_same_key_is_not_charged_against_the_budget_again(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_DAILY_BUDGET="0.06")
    async with Client(build_server(settings)) as client:
        arguments = {"prompt": "a fox", "idempotency_key": "fox-once"}
        first = await client.call_tool("generate_image", arguments)
        again = await client.call_tool("generate_image", arguments)
        assert not first.is_error and not again.is_error, text_of(again)
    assert tasks_made(sandbox) == 1


async def test_get_balance_says_when_no_daily_budget_is_set(tmp_path: Path, sandbox: RunningSandbox) -> None:
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        text = text_of(await client.call_tool("get_balance", {}))
    assert "No daily budget is set here (RUNAPI_MCP_DAILY_BUDGET)." in text, text


def test_spend_settings_take_dollars_and_refuse_nonsense_in_one_line(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "RUNAPI_MCP_DAILY_BUDGET": "$5", "RUNAPI_MCP_CONFIRM_ABOVE": "0.5"}
    settings = Settings.load(env=env, working_dir=tmp_path)
    assert (settings.daily_budget, settings.confirm_above, settings.max_cost_per_call) == (5.0, 0.5, None)
    assert settings.core_config().daily_budget == 5.0
    with pytest.raises(SettingsError, match=r"RUNAPI_MCP_MAX_COST_PER_CALL must be an amount in US dollars"):
        Settings.load(env={"HOME": str(tmp_path), "RUNAPI_MCP_MAX_COST_PER_CALL": "ten"}, working_dir=tmp_path)
    with pytest.raises(SettingsError, match=r"RUNAPI_MCP_DAILY_BUDGET must be an amount in US dollars of 0 or more"):
        Settings.load(env={"HOME": str(tmp_path), "RUNAPI_MCP_DAILY_BUDGET": "-1"}, working_dir=tmp_path)
