"""Journal cost per operation, on SQLite and PostgreSQL: a kept connection against a fresh one per operation.

`python -m bench.journal [--ops N] [--rows R] [--quick]` measures, for each engine, `update`, `get` and
`recent` through the journal's own code on its kept connection (SQLite: one connection on the journal's
thread; PostgreSQL: the pool) and, as the baseline in the same run, the same statements on a connection
opened and closed for each operation (what the journal did before). Then `recent(status=...)` on a table of
R rows (100,000 by default), with the journal's indexes and, as the baseline, with them dropped. PostgreSQL
runs on a throwaway local server (Debian's postgresql package); without it, its rows say so.
Figures are medians of per-operation times, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio

from runapi_mcp.core.journal import Journal, TaskParams, open_journal
from runapi_mcp.core.journal.engine import Result, Statement
from runapi_mcp.core.journal.migrations import INDEXES
from runapi_mcp.core.journal.sqlite import SQLiteEngine

TARGET_LIST_MS = 5.0
STATUSES = ("completed",) * 90 + ("pending",) * 5 + ("processing",) * 4 + ("failed",)


class FreshSQLite:
    """The baseline engine: a new connection for every operation, closed after it (the WAL checkpointed)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def location(self) -> str:
        return str(self.path)

    async def run(self, statements: Sequence[Statement], *, transaction: bool = False) -> list[Result]:
        return await anyio.to_thread.run_sync(self._run, statements, transaction)

    def _run(self, statements: Sequence[Statement], transaction: bool) -> list[Result]:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            if transaction:
                conn.execute("BEGIN IMMEDIATE")
            results = []
            for s in statements:
                cursor = conn.execute(s.sql, s.args)
                results.append(Result(cursor.rowcount, cursor.fetchall()))
            if transaction:
                conn.execute("COMMIT")
            return results
        finally:
            conn.close()

    async def close(self) -> None:
        return None


class FreshPostgres:
    """The baseline engine: a new PostgreSQL connection for every operation."""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def location(self) -> str:
        return "postgresql"

    async def run(self, statements: Sequence[Statement], *, transaction: bool = False) -> list[Result]:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            results = []
            for s in statements:
                cursor = await conn.execute(s.sql.replace("?", "%s"), s.args)  # type: ignore[arg-type]
                rows = await cursor.fetchall() if cursor.description is not None else []
                results.append(Result(cursor.rowcount, list(rows)))
            return results

    async def close(self) -> None:
        return None


async def per_op_ms(op: Callable[[int], Awaitable[object]], count: int) -> float:
    times: list[float] = []
    for i in range(count):
        start = time.perf_counter()
        await op(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def operations(journal: Journal, prefix: str, count: int) -> dict[str, float]:
    for i in range(count):
        key = f"{prefix}-{i}"
        await journal.record_intent(
            idempotency_key=key, action="text_to_image", params=TaskParams(prompt=key), output_dir=None
        )
        await journal.attach_task_id(key, f"task-{key}")
    return {
        "update": await per_op_ms(lambda i: journal.update(f"task-{prefix}-{i}", status="processing"), count),
        "get": await per_op_ms(lambda i: journal.get(f"task-{prefix}-{i}"), count),
        "recent": await per_op_ms(lambda i: journal.recent(limit=10), count),
    }


def fill_rows(count: int) -> list[tuple[object, ...]]:
    rng = random.Random(7)
    params = TaskParams(prompt="a lighthouse at dusk").model_dump_json()
    images = json.dumps([{"index": 0, "url": "https://cdn.example/x.png", "path": "/out/x.png"}])
    return [
        (
            f"owner-{i % 50}",
            f"bulk-{i}",
            f"bulk-task-{i}",
            "text_to_image",
            params,
            "/out",
            rng.choice(STATUSES),
            1_700_000_000.0 + i,
            1_700_000_000.0 + i,
            images,
        )
        for i in range(count)
    ]


BULK_INSERT = (
    "INSERT INTO tasks (owner, idempotency_key, task_id, action, params, output_dir, status, created_at, updated_at, "
    "images) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def listing(journal: Journal, count: int) -> dict[str, float]:
    return {
        "recent(status=failed)": await per_op_ms(lambda i: journal.recent(status="failed", limit=10), count),
        "recent(owner, status=failed)": await per_op_ms(
            lambda i: journal.recent(status="failed", owner=f"owner-{i % 50}", limit=10), count
        ),
    }


def index_names() -> list[str]:
    return [statement.split()[2] for statement in INDEXES]


async def sqlite_section(folder: Path, ops: int, rows: int) -> list[tuple[str, float, float]]:
    path = folder / "journal.sqlite3"
    kept = open_journal(sqlite_path=path)
    figures = await operations(kept, "kept", ops)
    fresh = await operations(Journal(FreshSQLite(path)), "fresh", ops)
    out = [(f"sqlite {name}", figures[name], fresh[name]) for name in figures]
    await kept.close()

    big = folder / "big.sqlite3"
    journal = Journal(SQLiteEngine(big))
    await journal.recent()
    await journal.close()
    with sqlite3.connect(big) as conn:
        conn.executemany(BULK_INSERT.replace("?", "?"), fill_rows(rows))
        conn.execute("ANALYZE")
    journal = open_journal(sqlite_path=big)
    indexed = await listing(journal, ops)
    await journal.close()
    with sqlite3.connect(big) as conn:
        for name in index_names():
            conn.execute(f"DROP INDEX {name}")
    journal = open_journal(sqlite_path=big)
    scanned = await listing(journal, max(10, ops // 20))
    await journal.close()
    out += [(f"sqlite {name} at {rows:,} rows", indexed[name], scanned[name]) for name in indexed]
    return out


async def postgres_section(url: str, ops: int, rows: int) -> list[tuple[str, float, float]]:
    import psycopg

    kept = open_journal(sqlite_path=Path("/unused"), database_url=url)
    figures = await operations(kept, "kept", ops)
    fresh = await operations(Journal(FreshPostgres(url)), "fresh", ops)
    out = [(f"postgres {name}", figures[name], fresh[name]) for name in figures]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        async with conn.cursor() as cursor:
            await cursor.executemany(BULK_INSERT.replace("?", "%s"), fill_rows(rows))
        await conn.execute("ANALYZE tasks")
    indexed = await listing(kept, ops)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for name in index_names():
            await conn.execute(f"DROP INDEX {name}")  # type: ignore[arg-type]
    scanned = await listing(kept, max(10, ops // 20))
    await kept.close()
    out += [(f"postgres {name} at {rows:,} rows", indexed[name], scanned[name]) for name in indexed]
    return out


def print_table(rows: list[tuple[str, float, float]], notes: list[str]) -> None:
    print(f"{'operation':<54} {'ours ms':>9} {'baseline ms':>12} {'baseline/ours':>14}")
    for name, ours, base in rows:
        target = ""
        if "status=failed" in name:
            target = f"  target < {TARGET_LIST_MS:g} ms: {'met' if ours < TARGET_LIST_MS else 'MISSED'}"
        print(f"{name:<54} {ours:>9.3f} {base:>12.3f} {base / ours:>13.1f}x{target}")
    print(
        "baseline: a fresh connection per operation (update/get/recent); the same query without the journal's "
        "indexes (recent at N rows)"
    )
    for note in notes:
        print(note)


async def run(ops: int, rows: int) -> int:
    from tests.postgres_server import PostgresServer, pg_bin_dir

    folder = Path(tempfile.mkdtemp(prefix="runapi-mcp-bench-journal-"))
    table = await sqlite_section(folder, ops, rows)
    notes: list[str] = []
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        notes.append("postgres: not measured (PostgreSQL's server binaries are not installed)")
    else:
        server = PostgresServer(bin_dir)
        try:
            server.start()
            table += await postgres_section(server.create_database(), ops, rows)
        finally:
            server.stop()
    print_table(table, notes)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journal", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=500, help="operations timed per figure (default 500)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the listing table (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 operations, 5,000 rows")
    args = parser.parse_args(argv)
    ops, rows = (50, 5_000) if args.quick else (args.ops, args.rows)
    return asyncio.run(run(ops, rows))


if __name__ == "__main__":
    sys.exit(main())
