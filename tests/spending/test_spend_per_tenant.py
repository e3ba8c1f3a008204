"""Hosted with per-request keys: each RunAPI key has its own daily budget on one server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runapi_mcp.sandbox import RunningSandbox
from tests.support.environments import http_settings
from tests.support.mcp_http import mcp_client, serving, text_of
from tests.support.sandboxes import sandbox_in_loop

pytestmark = pytest.mark.anyio

TENANT_A = "sk-tenant-a-budget-41d0"
TENANT_B = "sk-tenant-b-budget-7e2c"


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with sandbox_in_loop(accepted_keys=frozenset({TENANT_A, TENANT_B})) as sb:
        yield sb


async def test_each_key_spends_against_its_own_daily_budget(tmp_path: Path, sandbox: RunningSandbox) -> None:
    settings = http_settings(
        tmp_path, sandbox.url, RUNAPI_API_KEY="", RUNAPI_MCP_HTTP_AUTH="per-request", RUNAPI_MCP_DAILY_BUDGET="0.06"
    )
    async with serving(settings) as url:
        headers_a, headers_b = {"Authorization": f"Bearer {TENANT_A}"}, {"Authorization": f"Bearer {TENANT_B}"}
        async with mcp_client(url, headers_a) as a, mcp_client(url, headers_b) as b:
            first_a = await a.call_tool("generate_image", {"prompt": "tenant a"})
            second_a = await a.call_tool("generate_image", {"prompt": "tenant a again"})
            first_b = await b.call_tool("generate_image", {"prompt": "tenant b"})
            balance_b = text_of(await b.call_tool("get_balance", {}))
    assert not first_a.is_error and not first_b.is_error, (text_of(first_a), text_of(first_b))
    assert second_a.is_error and "RUNAPI_MCP_DAILY_BUDGET" in text_of(second_a)
    assert TENANT_A not in text_of(second_a)
    assert "$0.06 spent or reserved of the $0.06 daily budget, $0.00 left" in balance_b, balance_b
    assert sandbox.ledger()["totals"]["tasks"] == 2
