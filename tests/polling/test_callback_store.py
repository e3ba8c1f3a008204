"""Callback tokens and task durations in the journal (schema v3), on SQLite and on a real PostgreSQL server,
and wake-ups that cross replicas through PostgreSQL's LISTEN/NOTIFY."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from runapi_mcp.core.callbacks import SELECTOR_LENGTH, CallbackDesk, CallbackIssuer, Wakeups, new_token, token_digest
from runapi_mcp.core.journal import Journal, TaskParams, migrations, open_journal, sqlite_journal
from runapi_mcp.core.journal.engine import Statement
from runapi_mcp.core.journal.notify import announce, listening
from runapi_mcp.core.journal.signals import recent_durations, record_duration, take_woken, token_by_selector
from tests.postgres_server import postgres_server  # noqa: F401 - the fixture postgres_url needs
from tests.postgres_server import postgres_url as postgres_url
from tests.support.journals import OpenJournal, journals_on

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgres"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenJournal]:
    url = None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
    async with journals_on(tmp_path, url) as open_one:
        yield open_one


async def created(journal: Journal, key: str, task_id: str) -> None:
    await journal.record_intent(
        idempotency_key=key, action="text_to_image", params=TaskParams(prompt="p"), output_dir=None
    )
    await journal.attach_task_id(key, task_id)


async def test_a_token_is_kept_hashed_once_the_create_is_answered_and_finds_its_one_task(
    open_store: Callable[[], Journal],
) -> None:
    journal = open_store()
    issuer = CallbackIssuer(journal, "https://mcp.example.com/", None)
    url = await issuer.url_for("key-1")
    assert url is not None and url.startswith("https://mcp.example.com/callbacks/")
    token = url.rsplit("/", 1)[1]
    assert len(token) == 43  # 256 random bits
    # Resent before an answer, the create carries the very same URL (RunAPI compares the body).
    assert await issuer.url_for("key-1") == url
    await created(journal, "key-1", "task-1")
    await issuer.answered("key-1")
    (rows,) = await journal.engine.run([Statement("SELECT token_hash, retry_token FROM callback_tokens")])
    assert rows.rows == [(token_digest(token), None)]
    found = await token_by_selector(journal, token[:SELECTOR_LENGTH], now=time.time())
    assert found is not None and found.task_id == "task-1"


async def test_a_live_token_wakes_the_waiting_call_and_marks_the_task_and_a_wrong_one_changes_nothing(
    open_store: Callable[[], Journal],
) -> None:
    journal = open_store()
    url = await CallbackIssuer(journal, "http://127.0.0.1:1", None).url_for("key-2")
    assert url is not None
    token = url.rsplit("/", 1)[1]
    await created(journal, "key-2", "task-2")
    desk = CallbackDesk(journal)
    # Same selector, wrong rest: the constant-time comparison refuses it.
    assert await desk.receive(token[:SELECTOR_LENGTH] + "A" * (43 - SELECTOR_LENGTH)) is False
    assert await desk.receive(new_token()) is False
    assert await take_woken(journal, owner="", idempotency_key="key-2") is False
    assert await desk.receive(token) is True
    assert await take_woken(journal, owner="", idempotency_key="key-2") is True
    assert await take_woken(journal, owner="", idempotency_key="key-2") is False  # taken once


async def test_an_expired_token_is_refused(open_store: Callable[[], Journal]) -> None:
    journal = open_store()
    url = await CallbackIssuer(journal, "http://127.0.0.1:1", None).url_for("key-3")
    assert url is not None
    token = url.rsplit("/", 1)[1]
    later = time.time() + 8 * 24 * 3600
    assert await token_by_selector(journal, token[:SELECTOR_LENGTH], now=later) is None


async def test_durations_are_kept_per_action_and_resolution(open_store: Callable[[], Journal]) -> None:
    journal = open_store()
    for seconds in (10.0, 20.0, 30.0):
        await record_duration(journal, "text_to_image", "2k", seconds, now=time.time())
    await record_duration(journal, "edit_image", "2k", 99.0, now=time.time())
    assert sorted(await recent_durations(journal, "text_to_image", "2k")) == [10.0, 20.0, 30.0]
    assert await recent_durations(journal, "text_to_image", "4k") == []


async def test_a_callback_reaching_one_replica_wakes_the_call_waiting_on_another(postgres_url: str) -> None:
    replica_a = open_journal(sqlite_path=Path("/nonexistent"), database_url=postgres_url)
    replica_b = open_journal(sqlite_path=Path("/nonexistent"), database_url=postgres_url)
    waiting_on_a = Wakeups()
    try:
        await replica_a.recent(limit=1)  # schema ready
        with waiting_on_a.waiting("task-x") as signal:
            async with listening(replica_a, waiting_on_a.wake):
                await announce(replica_b, "task-x")
                with anyio.fail_after(5):
                    await signal.wait(5)
                assert signal.is_set
    finally:
        await replica_a.close()
        await replica_b.close()


async def test_a_version_2_sqlite_journal_gains_the_version_3_tables_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as conn:
        for statement in (migrations.SQLITE_TABLE, *migrations.INDEXES):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO tasks (owner, idempotency_key, task_id, action, params, status, created_at, updated_at) "
            "VALUES ('', 'old', 'task-old', 'text_to_image', ?, 'completed', 1, 1)",
            (TaskParams(prompt="old").model_dump_json(),),
        )
        conn.execute("PRAGMA user_version = 2")
    journal = sqlite_journal(path)
    try:
        row = await journal.get("task-old")
        assert row is not None and row.status == "completed"
        await record_duration(journal, "text_to_image", "default", 12.0, now=time.time())
        assert await recent_durations(journal, "text_to_image", "default") == [12.0]
    finally:
        await journal.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.SCHEMA_VERSION
