"""Several journals on one database, as several processes or replicas open it, closed when the test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from runapi_mcp.core.journal import Journal, open_journal

OpenJournal = Callable[[], Journal]


@asynccontextmanager
async def journals_on(tmp_path: Path, database_url: str | None) -> AsyncIterator[OpenJournal]:
    """A function that opens one more journal on the same store: the SQLite file under `tmp_path`, or the
    PostgreSQL database `database_url` names."""
    opened: list[Journal] = []

    def open_one() -> Journal:
        journal = open_journal(sqlite_path=tmp_path / "journal.sqlite3", database_url=database_url)
        opened.append(journal)
        return journal

    try:
        yield open_one
    finally:
        for journal in opened:
            await journal.close()
