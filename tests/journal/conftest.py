"""Every journal test runs on both engines: a SQLite file, and a database on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from runapi_mcp.core.journal import Journal, open_journal
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401 - fixtures used by this folder


class Clock:
    """Time that moves only when told, so ordering does not depend on the machine's clock resolution."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


OpenJournal = Callable[..., Journal]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(engine: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite; a fresh PostgreSQL database otherwise."""
    return None if engine == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def open_store(tmp_path: Path, database_url: str | None, clock: Clock) -> AsyncIterator[OpenJournal]:
    """Opens journals on this test's store (each like another process's); closes them all afterwards."""
    opened: list[Journal] = []

    def open_one(busy_timeout: float = 10.0) -> Journal:
        journal = open_journal(
            sqlite_path=tmp_path / "state" / "journal.sqlite3",
            database_url=database_url,
            clock=clock,
            busy_timeout=busy_timeout,
        )
        opened.append(journal)
        return journal

    yield open_one
    for journal in opened:
        await journal.close()


@pytest.fixture
def journal(open_store: OpenJournal) -> Journal:
    return open_store()
