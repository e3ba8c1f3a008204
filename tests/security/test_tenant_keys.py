"""Multi-tenant HTTP: nothing is kept for a key RunAPI has not accepted, and tenants share no key namespace."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from tests.server.helpers import text_of
from tests.support.environments import http_settings
from tests.support.mcp_http import mcp_client, serving
from tests.transport.conftest import TENANT_A, TENANT_B

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """Accepts only the tenants' keys: a made-up key is refused with 401, as RunAPI does."""
    config = SandboxConfig(latency=0.02, balance_cents=10_000, accepted_keys=frozenset({TENANT_A, TENANT_B}))
    async with running_sandbox(config) as sb:
        yield sb


def per_request(tmp_path: Path, sandbox: RunningSandbox) -> Any:
    return http_settings(tmp_path, sandbox.url, RUNAPI_API_KEY="", RUNAPI_MCP_HTTP_AUTH="per-request")


def journal_rows(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    path = tmp_path / "state" / "journal.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return db.execute("SELECT owner, idempotency_key, task_id FROM tasks").fetchall()


def tenant_folders(tmp_path: Path) -> list[Path]:
    root = tmp_path / "state" / "tenants"
    return sorted(root.iterdir()) if root.is_dir() else []


async def test_made_up_keys_leave_no_tenant_folder_and_no_journal_row(tmp_path: Path, sandbox: RunningSandbox) -> None:
    async with serving(per_request(tmp_path, sandbox)) as url:
        for n in range(5):
            async with mcp_client(url, {"Authorization": f"Bearer sk-made-up-{n:04d}"}) as stranger:
                made = await stranger.call_tool("generate_image", {"prompt": "x" * 20_000, "idempotency_key": "k"})
                followed = await stranger.call_tool("get_task", {"task_id": "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14"})
            for result in (made, followed):
                assert result.is_error and "401" in text_of(result), text_of(result)
                assert "sk-made-up" not in text_of(result)
    assert tenant_folders(tmp_path) == []
    assert journal_rows(tmp_path) == []
    assert sandbox.ledger()["totals"]["tasks"] == 0


async def test_an_accepted_key_is_asked_about_once_and_then_works(tmp_path: Path, sandbox: RunningSandbox) -> None:
    async with (
        serving(per_request(tmp_path, sandbox)) as url,
        mcp_client(url, {"Authorization": f"Bearer {TENANT_A}"}) as a,
    ):
        before = sandbox.state.requests["other"]  # GET /me is one of these; a create is not
        first = await a.call_tool("generate_image", {"prompt": "a fox", "wait": False})
        second = await a.call_tool("generate_image", {"prompt": "a hen", "wait": False})
        asked = sandbox.state.requests["other"] - before
    assert not first.is_error and not second.is_error, (text_of(first), text_of(second))
    assert asked == 1
    assert len(tenant_folders(tmp_path)) == 1 and len(journal_rows(tmp_path)) == 2


async def test_tenant_b_cannot_learn_from_this_server_that_tenant_a_used_an_idempotency_key(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    """The journal keeps keys per owner, so this server never answers B from A's rows. (The sandbox is one
    account for every key, so what RunAPI itself answers B about a key A used is RunAPI's per-account
    namespace, not tested here.)"""
    async with serving(per_request(tmp_path, sandbox)) as url:
        async with mcp_client(url, {"Authorization": f"Bearer {TENANT_A}"}) as a:
            made_a = await a.call_tool("generate_image", {"prompt": "a's secret plan", "idempotency_key": "launch"})
        async with mcp_client(url, {"Authorization": f"Bearer {TENANT_B}"}) as b:
            made_b = await b.call_tool("generate_image", {"prompt": "b's drawing", "idempotency_key": "launch"})
            listed_b = text_of(await b.call_tool("list_tasks", {}))
            by_key = await b.call_tool("get_task", {"task_id": "launch"})
    assert not made_a.is_error, text_of(made_a)
    text_b = text_of(made_b) + listed_b + text_of(by_key)
    assert "was already used for a different request" not in text_b  # the journal's own refusal
    assert "secret plan" not in text_b
    a_id = made_a.structured_content["tasks"][0]["task_id"]  # pyright: ignore[reportOptionalSubscript]
    assert a_id not in text_b
