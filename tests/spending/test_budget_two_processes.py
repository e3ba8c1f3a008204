"""The daily budget holds across processes: 8 calls racing from two real server processes that share one
journal never create more than the budget allows, and the calls over it create nothing."""

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

CALLS_PER_SERVER = 4
PRICE_CENTS = 6  # the sandbox's 1k price
AFFORDABLE = 5  # of the 8 calls


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with sandbox_on_thread(latency=0.3, balance_cents=100_000) as sb:
        yield sb


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


async def test_eight_calls_racing_from_two_servers_never_pass_the_shared_daily_budget(
    tmp_path: Path, sandbox: SandboxThread, database_url: str | None
) -> None:
    shared = {"RUNAPI_MCP_DATABASE_URL": database_url} if database_url else {}
    env = server_process_env(
        tmp_path,
        sandbox.url,
        RUNAPI_API_KEY="sk-two-servers-budget",
        RUNAPI_MCP_STATE_DIR=str(tmp_path / "shared-state"),
        RUNAPI_MCP_DAILY_BUDGET=f"{AFFORDABLE * PRICE_CENTS / 100:.2f}",
        RUNAPI_MCP_POLL_INITIAL_SECONDS="0.02",
        RUNAPI_MCP_POLL_MAX_SECONDS="0.1",
        RUNAPI_MCP_PREVIEW="off",
        RUNAPI_MCP_WAIT_SECONDS="",
        RUNAPI_MCP_MAX_RETRIES="",
        **shared,
    )
    texts: dict[str, tuple[bool, str]] = {}
    with (
        http_server_process(tmp_path, env, name="left") as (left, _),
        http_server_process(tmp_path, env, name="right") as (right, _),
    ):
        clients: list[Client] = []
        async with (
            Client(f"{left}/mcp", read_timeout_seconds=60) as a,
            Client(f"{right}/mcp", read_timeout_seconds=60) as b,
        ):
            clients = [a, b]
            # Both servers have their journal connection and reservation table before the race starts.
            for client in clients:
                await client.call_tool("get_balance", {})
            with anyio.fail_after(90):
                async with anyio.create_task_group() as group:
                    for side, client in zip(("left", "right"), clients, strict=True):
                        for i in range(CALLS_PER_SERVER):

                            async def one(name: str = f"{side} {i}", client: Client = client) -> None:
                                result = await client.call_tool("generate_image", {"prompt": name})
                                texts[name] = (bool(result.is_error), text_of(result))

                            group.start_soon(one)
        ledger = sandbox.ledger()
    succeeded = [name for name, (error, _) in texts.items() if not error]
    refused = {name: text for name, (error, text) in texts.items() if error}
    assert len(texts) == 2 * CALLS_PER_SERVER
    assert len(succeeded) == AFFORDABLE, texts
    for name, text in refused.items():
        assert "RUNAPI_MCP_DAILY_BUDGET" in text and "Nothing was created" in text, (name, text)
    made = {task["id"] for task in ledger["tasks"]}
    assert len(made) == AFFORDABLE
    journal, reserved = _journal_rows(tmp_path, database_url)
    assert set(journal) == made and set(journal.values()) == {"completed"}
    assert tuple(reserved) == (AFFORDABLE, AFFORDABLE * PRICE_CENTS)


def _journal_rows(tmp_path: Path, database_url: str | None) -> tuple[dict[str, str], tuple[object, ...]]:
    """Each task's status, and (count, total) of the reservations, read straight from the shared database."""
    tasks = "SELECT task_id, status FROM tasks"
    reservations = "SELECT COUNT(*), SUM(amount_cents) FROM spend_reservations"
    if database_url is None:
        with sqlite3.connect(tmp_path / "shared-state" / "journal.sqlite3") as conn:
            return dict(conn.execute(tasks).fetchall()), tuple(conn.execute(reservations).fetchone())
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = {str(k): str(v) for k, v in conn.execute(tasks).fetchall()}
        found = conn.execute(reservations).fetchone()
        assert found is not None
        return rows, (found[0], float(found[1]))
