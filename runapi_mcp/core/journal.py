"""The task journal: every create's intent, task id, status and saved files, in SQLite.

Several server processes (one per host window) share the file, so: WAL mode, a busy timeout, a fresh
connection per operation, and one short transaction per write, committed at once. A process killed at
any point leaves the journal readable, with every write it finished. All SQLite work runs in worker
threads; the async methods are what the event loop calls.

The API key is never stored: callers pass tool parameters, and tenants are an opaque `owner` hash.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio

from runapi_mcp.core.errors import InputError, JournalError

SCHEMA_VERSION = 1
STATE_DIR_SETTING = "RUNAPI_MCP_STATE_DIR"

# Status of an intent: the create is about to be sent, or was sent without an answer yet.
INTENT_STATUS = "submitting"
# Intent statuses after which the task may exist at RunAPI without our knowing its id.
UNRESOLVED_STATUSES = (INTENT_STATUS, "unknown")
MAX_LIST = 1000

_T = TypeVar("_T")

# Each step takes the journal from version i to i + 1.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE tasks (
            idempotency_key TEXT PRIMARY KEY NOT NULL,
            task_id TEXT,
            action TEXT NOT NULL,
            params TEXT NOT NULL,
            output_dir TEXT,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            images TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            cost_cents REAL,
            owner TEXT
        )""",
        "CREATE INDEX tasks_task_id ON tasks (task_id)",
        "CREATE INDEX tasks_created ON tasks (created_at)",
        "CREATE INDEX tasks_owner_created ON tasks (owner, created_at)",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

_COLUMNS = (
    "idempotency_key, action, params, output_dir, task_id, status, created_at, updated_at, images, error, "
    "cost_cents, owner"
)


@dataclass(frozen=True)
class JournalEntry:
    idempotency_key: str
    action: str
    params: dict[str, Any]
    output_dir: str | None
    task_id: str | None
    status: str
    created_at: float
    updated_at: float
    images: list[dict[str, Any]]  # one record per image: url, path, size... as the caller stored them
    error: str | None
    cost_cents: float | None
    owner: str | None  # tenant id hash on a multi-tenant server; None on stdio


class Journal:
    def __init__(self, path: Path, *, busy_timeout: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._ready = False
        self._init_lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    # ---- writes -----------------------------------------------------------------------------------

    async def record_intent(
        self,
        *,
        idempotency_key: str,
        action: str,
        params: dict[str, Any],
        output_dir: str | None,
        owner: str | None = None,
    ) -> JournalEntry:
        """Record a create before it is sent. The same key again returns the existing row unchanged (its
        params may differ: the caller compares). A key another owner already used raises InputError."""
        return await self._run(partial(self._record_intent, idempotency_key, action, params, output_dir, owner))

    async def attach_task_id(self, idempotency_key: str, task_id: str) -> None:
        """The create answered: keep the task id. An intent status becomes `pending`; a later one stays."""
        await self._run(partial(self._attach_task_id, idempotency_key, task_id))

    async def mark_intent(self, idempotency_key: str, *, status: str, error: str | None = None) -> None:
        """Set the status (and error) of an intent that has no task id: e.g. `unknown` (no answer, the task may
        exist: see `unresolved`) or `rejected` (RunAPI refused it; nothing was created)."""
        await self._run(partial(self._mark_intent, idempotency_key, status, error))

    async def update(
        self,
        task_id: str,
        *,
        status: str | None = None,
        images: list[dict[str, Any]] | None = None,
        error: str | None = None,
        cost_cents: float | None = None,
    ) -> bool:
        """Change the fields given (None leaves a field as it is). False when no row has this task id."""
        return await self._run(partial(self._update, task_id, status, images, error, cost_cents))

    # ---- reads ------------------------------------------------------------------------------------

    async def get(self, task_id: str, owner: str | None = None) -> JournalEntry | None:
        """The entry for a task id; with `owner`, only that owner's."""
        where, args = _owner_filter("task_id = ?", [task_id], owner)
        rows = await self._run(partial(self._select, where, args, "created_at DESC, rowid DESC", 1))
        return rows[0] if rows else None

    async def get_by_key(self, idempotency_key: str, owner: str | None = None) -> JournalEntry | None:
        """The entry for an idempotency key; with `owner`, only when it is that owner's."""
        where, args = _owner_filter("idempotency_key = ?", [idempotency_key], owner)
        rows = await self._run(partial(self._select, where, args, "rowid", 1))
        return rows[0] if rows else None

    async def recent(
        self, *, limit: int = 20, status: str | None = None, owner: str | None = None
    ) -> list[JournalEntry]:
        """Newest first; optionally only one status, one owner's."""
        where, args = ("status = ?", [status]) if status is not None else ("1 = 1", [])
        where, args = _owner_filter(where, args, owner)
        return await self._run(partial(self._select, where, args, "created_at DESC, rowid DESC", _clamp(limit)))

    async def unresolved(
        self, *, older_than: float = 0.0, owner: str | None = None, limit: int = 100
    ) -> list[JournalEntry]:
        """Intents without a task id whose create may still have made a task (its answer was lost), oldest
        first, created at least `older_than` seconds ago. Re-sending the create with the same idempotency
        key recovers the task without paying twice."""
        marks = ", ".join("?" for _ in UNRESOLVED_STATUSES)
        where = f"task_id IS NULL AND status IN ({marks}) AND created_at <= ?"
        where, args = _owner_filter(where, [*UNRESOLVED_STATUSES, self._clock() - older_than], owner)
        return await self._run(partial(self._select, where, args, "created_at, rowid", _clamp(limit)))

    # ---- in worker threads ------------------------------------------------------------------------

    def _record_intent(
        self, key: str, action: str, params: dict[str, Any], output_dir: str | None, owner: str | None
    ) -> JournalEntry:
        now = self._clock()
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                f"INSERT INTO tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, '[]', NULL, NULL, ?) "
                "ON CONFLICT (idempotency_key) DO NOTHING",
                (key, action, _dumps(params), output_dir, INTENT_STATUS, now, now, owner),
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM tasks WHERE idempotency_key = ?", (key,)).fetchone()
            conn.execute("COMMIT")
        entry = _entry(row)
        if entry.owner != owner:
            # Another tenant's key: saying nothing more keeps their task to themselves.
            raise InputError(f"idempotency_key '{key}' is already in use. Pass a different idempotency_key.")
        return entry

    def _attach_task_id(self, key: str, task_id: str) -> None:
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE tasks SET task_id = ?, updated_at = ?, "
                "status = CASE WHEN task_id IS NULL THEN 'pending' ELSE status END, "
                "error = CASE WHEN task_id IS NULL THEN NULL ELSE error END "
                "WHERE idempotency_key = ?",
                (task_id, self._clock(), key),
            )
            if cursor.rowcount == 0:
                raise JournalError(f"No journal entry has idempotency key '{key}'; record the intent first.")

    def _mark_intent(self, key: str, status: str, error: str | None) -> None:
        with self._connection() as conn:
            conn.execute(
                "UPDATE tasks SET status = ?, error = ?, updated_at = ? WHERE idempotency_key = ? AND task_id IS NULL",
                (status, error, self._clock(), key),
            )

    def _update(
        self,
        task_id: str,
        status: str | None,
        images: list[dict[str, Any]] | None,
        error: str | None,
        cost_cents: float | None,
    ) -> bool:
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE tasks SET status = COALESCE(?, status), images = COALESCE(?, images), "
                "error = COALESCE(?, error), cost_cents = COALESCE(?, cost_cents), updated_at = ? WHERE task_id = ?",
                (status, None if images is None else _dumps(images), error, cost_cents, self._clock(), task_id),
            )
            return cursor.rowcount > 0

    def _select(self, where: str, args: list[Any], order: str, limit: int) -> list[JournalEntry]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE {where} ORDER BY {order} LIMIT ?", (*args, limit)
            ).fetchall()
        return [_entry(row) for row in rows]

    async def _run(self, fn: Callable[[], _T]) -> _T:
        return await anyio.to_thread.run_sync(fn)

    @contextmanager
    def _connection(self) -> Generator[sqlite3.Connection]:
        """A fresh autocommit connection: every statement outside BEGIN...COMMIT is its own transaction."""
        self._ensure_schema()
        try:
            conn = self._open()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            yield conn
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self._error(exc) from None
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        # WAL + NORMAL: durable against a killed process (not a power cut), and far fewer fsyncs.
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with self._init_lock:
            if self._ready:
                return
            self._create_file()
            try:
                conn = self._open()
                try:
                    self._migrate(conn)
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            self._ready = True

    def _create_file(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Prompts are private: the file is the user's alone (SQLite would create it 0644).
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise JournalError(
                f"Cannot create the task journal {self._path}: {exc.strerror or exc}. "
                f"Set {STATE_DIR_SETTING} to a writable folder."
            ) from None

    def _migrate(self, conn: sqlite3.Connection) -> None:
        self._enable_wal(conn)
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then find it done
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"The task journal {self._path} was written by a newer runapi-mcp (schema {version}). "
                    f"Upgrade runapi-mcp, or set {STATE_DIR_SETTING} to another folder."
                )
            for step in _MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

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

    def _error(self, exc: sqlite3.Error) -> JournalError:
        return JournalError(
            f"The task journal {self._path} cannot be used: {exc}. "
            f"Check the folder is writable, or set {STATE_DIR_SETTING} to another folder."
        )


def _owner_filter(where: str, args: list[Any], owner: str | None) -> tuple[str, list[Any]]:
    if owner is None:
        return where, args
    return f"({where}) AND owner = ?", [*args, owner]


def _clamp(limit: int) -> int:
    return max(1, min(limit, MAX_LIST))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    key, action, params, output_dir, task_id, status, created, updated, images, error, cost, owner = row
    return JournalEntry(
        idempotency_key=key,
        action=action,
        params=_load_dict(params),
        output_dir=output_dir,
        task_id=task_id,
        status=status,
        created_at=float(created),
        updated_at=float(updated),
        images=_load_list(images),
        error=error,
        cost_cents=None if cost is None else float(cost),
        owner=owner,
    )


def _load_dict(text: str | None) -> dict[str, Any]:
    value = _loads(text)
    return value if isinstance(value, dict) else {}  # pyright: ignore[reportUnknownVariableType]


def _load_list(text: str | None) -> list[dict[str, Any]]:
    value = _loads(text)
    return value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text or "null")
    except json.JSONDecodeError:
        return None
