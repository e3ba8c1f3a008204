"""The journal's schema per engine, and the step that rewrites a version 1 (SQLite) journal to version 2.

Version 1 keyed rows by idempotency key alone and kept the tool's raw arguments as params (a data: URI
whole, the URLs RunAPI got under a `source_image_urls` key). Version 2 keys rows by (owner, idempotency key),
makes task ids unique, keeps typed params (sources with digests, never a payload) and indexes what the
tools filter on. PostgreSQL journals start at version 2. Version 3 adds two tables beside `tasks` (it
changes no row): `callback_tokens` (a callback URL's token, as its SHA-256, for one task) and
`task_durations` (how long finished tasks took, per action and resolution, so polling can learn).
Version 4 adds `image_saves` (it changes no row): which process saves a task's image, and what it saved
(claims.py), so servers sharing one journal save each image once.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError

from runapi_mcp.core.journal.rows import LOCAL_OWNER, ImageRecord, SourceRef, TaskParams, data_digest, stored_reference
from runapi_mcp.core.journal.states import is_state
from runapi_mcp.runapi.models import ACTIONS, canonical_status

SCHEMA_VERSION = 4

log = logging.getLogger(__name__)


def _table(name: str, *, seq: str, real: str) -> str:
    return f"""CREATE TABLE {name} (
        seq {seq},
        owner TEXT NOT NULL DEFAULT '',
        idempotency_key TEXT NOT NULL,
        task_id TEXT UNIQUE,
        action TEXT NOT NULL,
        params TEXT NOT NULL,
        output_dir TEXT,
        status TEXT NOT NULL,
        created_at {real} NOT NULL,
        updated_at {real} NOT NULL,
        images TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        cost_cents {real},
        UNIQUE (owner, idempotency_key)
    )"""


# list_tasks filters on owner and status, newest first; a server without tenants reads every owner's rows.
INDEXES = (
    "CREATE INDEX tasks_owner_status_created ON tasks (owner, status, created_at, seq)",
    "CREATE INDEX tasks_owner_created ON tasks (owner, created_at, seq)",
    "CREATE INDEX tasks_status_created ON tasks (status, created_at, seq)",
    "CREATE INDEX tasks_created ON tasks (created_at, seq)",
)


def _v3_tables(*, seq: str, real: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE IF NOT EXISTS callback_tokens (
            selector TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL,
            owner TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            expires_at {real} NOT NULL,
            woken_at {real},
            retry_token TEXT,
            UNIQUE (owner, idempotency_key)
        )""",
        f"""CREATE TABLE IF NOT EXISTS task_durations (
            seq {seq},
            action TEXT NOT NULL,
            resolution TEXT NOT NULL,
            seconds {real} NOT NULL,
            finished_at {real} NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS task_durations_kind ON task_durations (action, resolution, finished_at)",
    )


SQLITE_V3 = _v3_tables(seq="INTEGER PRIMARY KEY", real="REAL")
POSTGRES_V3 = _v3_tables(seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", real="DOUBLE PRECISION")


def _v4_tables(*, real: str) -> tuple[str, ...]:
    # One row per (task, image): the holder saving it until lease_until, then the saved ImageRecord as JSON.
    return (
        f"""CREATE TABLE IF NOT EXISTS image_saves (
            task_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            holder TEXT NOT NULL,
            lease_until {real} NOT NULL,
            record TEXT,
            PRIMARY KEY (task_id, idx)
        )""",
    )


SQLITE_V4 = _v4_tables(real="REAL")
POSTGRES_V4 = _v4_tables(real="DOUBLE PRECISION")

SQLITE_TABLE = _table("tasks", seq="INTEGER PRIMARY KEY", real="REAL")
SQLITE_V2_TABLE = _table("tasks_v2", seq="INTEGER PRIMARY KEY", real="REAL")
POSTGRES_TABLE = _table("tasks", seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", real="DOUBLE PRECISION")

# The version 1 DDL, as runapi-mcp 0.1 created it: kept to test the migration on a real version 1 file.
SQLITE_V1 = (
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
)

V1_COLUMNS = (
    "idempotency_key, task_id, action, params, output_dir, status, created_at, updated_at, images, error, cost_cents, "
    "owner"
)
V2_INSERT = (
    "INSERT INTO tasks_v2 (owner, idempotency_key, task_id, action, params, output_dir, status, created_at, "
    "updated_at, images, error, cost_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def v2_row(row: tuple[Any, ...], seen_task_ids: set[str]) -> tuple[object, ...]:
    """One version 1 row in version 2's shape. A task id already taken by an older row is left off this one."""
    key, task_id, action, params, output_dir, status, created, updated, images, error, cost, owner = row
    if task_id is not None and task_id in seen_task_ids:
        log.warning("journal migration: task %s is recorded under two keys; keeping it on the older row", task_id)
        task_id = None
    if task_id is not None:
        seen_task_ids.add(task_id)
    return (
        owner or LOCAL_OWNER,
        key,
        task_id,
        action if action in ACTIONS else "text_to_image",
        _v2_params(_loads(params)).model_dump_json(),
        output_dir,
        _v2_status(status, task_id),
        float(created),
        float(updated),
        json.dumps([r.model_dump() for r in _v2_images(_loads(images))]),
        error,
        cost,
    )


def _v2_params(old: Any) -> TaskParams:
    if not isinstance(old, dict):
        return TaskParams()
    fields: dict[str, Any] = old  # pyright: ignore[reportUnknownVariableType]
    refs, urls = _strings(fields.get("images")), _strings(fields.get("source_image_urls"))
    sources = tuple(_v2_source(ref, urls[i] if i < len(urls) else None) for i, ref in enumerate(refs))
    try:
        return TaskParams(
            prompt=str(fields.get("prompt") or ""),
            aspect_ratio=fields.get("aspect_ratio"),
            output_resolution=fields.get("output_resolution"),
            sources=sources,
        )
    except ValidationError:
        return TaskParams(prompt=str(fields.get("prompt") or ""), sources=sources)


def _strings(value: Any) -> list[str]:
    items: list[Any] = value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]
    return [item for item in items if isinstance(item, str)]


def _v2_source(ref: str, url: str | None) -> SourceRef:
    if ref[:5].lower() == "data:":
        return SourceRef(reference=stored_reference(ref), url=url, sha256=data_digest(ref))
    if url is None and ref.startswith(("http://", "https://")):
        url = ref  # a URL reference went to RunAPI as it was
    return SourceRef(reference=ref, url=url)


def _v2_images(old: Any) -> list[ImageRecord]:
    if not isinstance(old, list):
        return []
    records: list[ImageRecord] = []
    for i, item in enumerate(old):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if isinstance(item, dict):
            try:
                records.append(ImageRecord.model_validate({"index": i, **item, "content_type": None}))
            except ValidationError:
                records.append(ImageRecord(index=i))
    return records


def _v2_status(status: str, task_id: str | None) -> str:
    if is_state(status):
        return status
    return canonical_status(status) or ("pending" if task_id else "unknown")


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text or "null")
    except json.JSONDecodeError:
        return None
