"""The journal in one SQLite file: one connection, kept open on the journal's own thread.

Several server processes (one per host window) share the file, so: WAL mode, a busy timeout, and every
write in its own short transaction, committed at once (a multi-statement one taken with BEGIN IMMEDIATE,
so it never has to upgrade a read lock and lose a race). A process killed at any point leaves the file
readable with every write it finished. The connection is opened on first use and lives until `close()`;
closing it per operation would checkpoint the WAL every time.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal import migrations
from runapi_mcp.core.journal.engine import Conflict, Result, Statement

STATE_DIR_SETTING = "RUNAPI_MCP_STATE_DIR"


class SQLiteEngine:
    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        # One thread owns the connection: statements never interleave, and SQLite's same-thread check holds.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runapi-journal")
        self._conn: sqlite3.Connection | None = None  # only ever touched on that thread
        self._closed = False

    @property
    def location(self) -> str:
        return str(self.path)

    async def run(self, statements: Sequence[Statement], *, transaction: bool = False) -> list[Result]:
        if self._closed:
            raise JournalError(f"The task journal {self.path} is closed.")
        future = self._thread.submit(self._run, statements, transaction)
        # Once handed to the thread, a write finishes even if its caller is cancelled meanwhile.
        return await asyncio.shield(asyncio.wrap_future(future))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.wrap_future(self._thread.submit(self._close_connection))
        self._thread.shutdown(wait=False)

    # ---- on the journal's thread --------------------------------------------------------------------

    def _run(self, statements: Sequence[Statement], transaction: bool) -> list[Result]:
        conn = self._connection()
        try:
            if transaction:
                conn.execute("BEGIN IMMEDIATE")
            results: list[Result] = []
            for statement in statements:
                cursor = conn.execute(statement.sql, statement.args)
                results.append(Result(cursor.rowcount, cursor.fetchall()))
            if transaction:
                conn.execute("COMMIT")
            return results
        except sqlite3.IntegrityError as exc:
            self._rollback(conn)
            raise Conflict(str(exc)) from None
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise self._error(exc) from None

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                self._close_connection()  # a connection that cannot roll back is not reused

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self._create_file()
        try:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            # WAL + NORMAL: durable against a killed process (not a power cut), and far fewer fsyncs.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._enable_wal(conn)
            self._migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc) from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _create_file(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Prompts are private: the file is the user's alone (SQLite would create it 0644).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise JournalError(
                f"Cannot create the task journal {self.path}: {exc.strerror or exc}. "
                f"Set {STATE_DIR_SETTING} to a writable folder."
            ) from None

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Two processes opening a new journal at once both try to switch it to WAL, and SQLite answers the loser
        # "database is locked" at once rather than waiting out the busy timeout: wait here instead.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then find it done
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > migrations.SCHEMA_VERSION:
                raise JournalError(
                    f"The task journal {self.path} was written by a newer runapi-mcp (schema {version}). "
                    f"Upgrade runapi-mcp, or set {STATE_DIR_SETTING} to another folder."
                )
            if version == 0:
                for statement in (migrations.SQLITE_TABLE, *migrations.INDEXES):
                    conn.execute(statement)
            elif version == 1:
                _v1_to_v2(conn)
            if version < 3:
                for statement in migrations.SQLITE_V3:
                    conn.execute(statement)
            if version < 4:
                for statement in migrations.SQLITE_V4:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _error(self, exc: sqlite3.Error) -> JournalError:
        return JournalError(
            f"The task journal {self.path} cannot be used: {exc}. "
            f"Check the folder is writable, or set {STATE_DIR_SETTING} to another folder."
        )


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    conn.execute(migrations.SQLITE_V2_TABLE)
    seen: set[str] = set()
    old = conn.execute(f"SELECT {migrations.V1_COLUMNS} FROM tasks ORDER BY rowid")
    conn.executemany(migrations.V2_INSERT, (migrations.v2_row(row, seen) for row in old.fetchall()))
    conn.execute("DROP TABLE tasks")
    conn.execute("ALTER TABLE tasks_v2 RENAME TO tasks")
    for statement in migrations.INDEXES:
        conn.execute(statement)
