"""Wake-ups across replicas: with the PostgreSQL journal, a callback that reaches one replica is announced
with NOTIFY, and every replica LISTENs on its own connection and wakes the calls it has waiting.

SQLite journals are one machine's: there the process's own registry is all there is (no-op here).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager

import anyio

from runapi_mcp.core.journal.engine import Statement
from runapi_mcp.core.journal.tasks import Journal

log = logging.getLogger(__name__)

CHANNEL = "runapi_mcp_wake"
RECONNECT_SECONDS = 2.0


async def announce(journal: Journal, task_id: str) -> None:
    """Tell every replica that `task_id` has news (no-op on SQLite)."""
    if _postgres_url(journal) is None:
        return
    await journal.engine.run([Statement("SELECT pg_notify(?, ?)", (CHANNEL, task_id))])


@asynccontextmanager
async def listening(journal: Journal, wake: Callable[[str], object]) -> AsyncGenerator[None]:
    """While open, every announced task id is passed to `wake` (PostgreSQL only)."""
    url = _postgres_url(journal)
    if url is None:
        yield
        return
    async with anyio.create_task_group() as group:
        ready = anyio.Event()
        group.start_soon(_listen, url, wake, ready)
        with anyio.move_on_after(10):
            await ready.wait()
        try:
            yield
        finally:
            group.cancel_scope.cancel()


async def _listen(url: str, wake: Callable[[str], object], ready: anyio.Event) -> None:
    import psycopg

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                ready.set()
                async for note in conn.notifies():
                    wake(note.payload)
        except psycopg.Error as exc:
            # Wake-ups from other replicas pause; polling still finds every result meanwhile.
            log.warning("not hearing other replicas' callbacks for a moment: %s", str(exc).splitlines()[0])
            ready.set()
            await anyio.sleep(RECONNECT_SECONDS)


def _postgres_url(journal: Journal) -> str | None:
    from runapi_mcp.core.journal.postgres import PostgresEngine

    engine = journal.engine
    return engine.connect_url if isinstance(engine, PostgresEngine) else None
