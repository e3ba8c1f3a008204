"""The PostgreSQL journal: replicas starting at once, a newer schema, and errors that say what to fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import psycopg
import pytest

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal import Journal, TaskParams, open_journal
from runapi_mcp.core.journal.migrations import SCHEMA_VERSION
from tests.postgres_server import PostgresServer, _free_port

pytestmark = pytest.mark.anyio


UNUSED_SQLITE = Path("/nonexistent/unused.sqlite3")  # with a database URL, no SQLite file is made


def pg_journal(url: str, *, busy_timeout: float = 5.0) -> Journal:
    return open_journal(sqlite_path=UNUSED_SQLITE, database_url=url, busy_timeout=busy_timeout)


async def test_replicas_opening_a_new_database_at_once_all_succeed(postgres_url: str) -> None:
    journals = [pg_journal(postgres_url) for _ in range(6)]

    async def first_write(n: int) -> None:
        await journals[n].record_intent(
            idempotency_key=f"k{n}", action="text_to_image", params=TaskParams(prompt="p"), output_dir=None
        )

    async with anyio.create_task_group() as group:
        for n in range(6):
            group.start_soon(first_write, n)
    assert len(await journals[0].recent()) == 6
    for journal in journals:
        await journal.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM runapi_mcp_schema").fetchall() == [(SCHEMA_VERSION,)]


async def test_a_database_from_a_newer_version_is_refused_with_a_next_step(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE runapi_mcp_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO runapi_mcp_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    journal = pg_journal(postgres_url)
    with pytest.raises(JournalError, match="newer runapi-mcp"):
        await journal.recent()
    await journal.close()


async def test_an_unreachable_server_is_a_journal_error_without_the_password() -> None:
    journal = pg_journal(f"postgresql://app:s3cret-pw@127.0.0.1:{_free_port()}/tasks", busy_timeout=1.0)
    with pytest.raises(JournalError) as caught:
        await journal.recent()
    await journal.close()
    message = str(caught.value)
    assert "postgresql://127.0.0.1:" in message and "RUNAPI_MCP_DATABASE_URL" in message
    assert "s3cret-pw" not in message and "app:" not in message


def test_a_database_url_that_is_not_postgresql_is_refused() -> None:
    with pytest.raises(JournalError, match="must be a postgresql:// URL"):
        pg_journal("mysql://db/tasks")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import anyio
    from runapi_mcp.core.journal import Journal, TaskParams, open_journal

    url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

    async def main() -> None:
        journal = open_journal(sqlite_path=Path("/unused"), database_url=url)
        for i in range(count):
            key = f"{name}-{i}"
            await journal.record_intent(idempotency_key=key, action="text_to_image", params=TaskParams(prompt=key),
                                        output_dir=None)
            await journal.attach_task_id(key, f"task-{key}")
            await journal.update(f"task-{key}", status="completed")
        await journal.close()

    anyio.run(main)
    """
)


def _start_writer(url: str, name: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _WRITER, url, name, str(count)], stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(90)
async def test_two_server_processes_on_one_database_lose_no_rows(postgres_url: str) -> None:
    writers = [_start_writer(postgres_url, name, 150) for name in ("left", "right")]
    for proc in writers:
        _, err = proc.communicate(timeout=80)
        assert proc.returncode == 0, err
    journal = pg_journal(postgres_url)
    rows = await journal.recent(limit=1000, status="completed")
    await journal.close()
    assert {r.idempotency_key for r in rows} == {f"{n}-{i}" for n in ("left", "right") for i in range(150)}


def test_the_test_server_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.url()) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_the_database_url_setting_is_read_as_a_secret(tmp_path: Path) -> None:
    from runapi_mcp.settings import Settings

    url = "postgresql://app:s3cret-pw@db.internal/tasks"
    settings = Settings.load(env={"HOME": str(tmp_path), "RUNAPI_MCP_DATABASE_URL": url}, working_dir=tmp_path)
    assert settings.database_url is not None and settings.database_url.get_secret_value() == url
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings.model_dump())
    assert Settings.load(env={"HOME": str(tmp_path)}, working_dir=tmp_path).database_url is None
