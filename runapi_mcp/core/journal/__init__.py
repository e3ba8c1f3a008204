"""The task journal: every create's intent, task id, status and saved images, so no task is lost or paid twice.

One interface (`Journal`), two engines: a SQLite file for one machine (the default), or a PostgreSQL
database shared by the replicas of a hosted server (`RUNAPI_MCP_DATABASE_URL=postgresql://...`).
`open_journal` picks the engine; `Journal.close()` releases it at shutdown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from runapi_mcp.core.journal.rows import LOCAL_OWNER, ImageRecord, SourceRef, TaskParams, TaskRow, stored_reference
from runapi_mcp.core.journal.sqlite import SQLiteEngine
from runapi_mcp.core.journal.states import FINAL_STATES, INTENT_STATE, MAY_EXIST_WITHOUT_ID, TaskState, allowed
from runapi_mcp.core.journal.tasks import Journal

__all__ = [
    "FINAL_STATES",
    "INTENT_STATE",
    "LOCAL_OWNER",
    "MAY_EXIST_WITHOUT_ID",
    "ImageRecord",
    "Journal",
    "SourceRef",
    "TaskParams",
    "TaskRow",
    "TaskState",
    "allowed",
    "open_journal",
    "sqlite_journal",
    "stored_reference",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_journal(
    *,
    sqlite_path: Path,
    database_url: str | None = None,
    busy_timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> Journal:
    """The journal in the PostgreSQL database `database_url` names, else in the SQLite file `sqlite_path`.
    Nothing is opened until the first operation."""
    if database_url:
        from runapi_mcp.core.journal.postgres import DATABASE_URL_SETTING, PostgresEngine

        if not database_url.startswith(POSTGRES_SCHEMES):
            from runapi_mcp.core.errors import JournalError

            raise JournalError(
                f"{DATABASE_URL_SETTING} must be a postgresql:// URL (leave it unset for the local SQLite journal)."
            )
        return Journal(PostgresEngine(database_url, timeout=busy_timeout), clock=clock)
    return sqlite_journal(sqlite_path, busy_timeout=busy_timeout, clock=clock)


def sqlite_journal(path: Path, *, busy_timeout: float = 10.0, clock: Callable[[], float] = time.time) -> Journal:
    return Journal(SQLiteEngine(path, busy_timeout=busy_timeout), clock=clock)
