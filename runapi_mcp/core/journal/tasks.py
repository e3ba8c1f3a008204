"""The journal's operations, the same on every engine: every create's intent, task id, status and images.

Rows are keyed by (owner, idempotency key): the owner is LOCAL_OWNER on a single-user server and a hash of
the tenant's key otherwise, so tenants never share a key's namespace. The API key itself is never stored.
Status changes follow `states.allowed`; a change it forbids is left out, logged, and reported as False.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal.claims import SaveClaims
from runapi_mcp.core.journal.engine import COLUMNS, Conflict, Engine, Result, Statement
from runapi_mcp.core.journal.rows import LOCAL_OWNER, ImageRecord, TaskParams, TaskRow
from runapi_mcp.core.journal.states import INTENT_STATE, MAY_EXIST_WITHOUT_ID, TaskState, sources_of
from runapi_mcp.runapi.models import Action

MAX_LIST = 1000
NEWEST_FIRST = "ORDER BY created_at DESC, seq DESC"

log = logging.getLogger(__name__)
_IMAGES = TypeAdapter(tuple[ImageRecord, ...])


class Journal:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._clock = clock
        self.claims = SaveClaims(engine, clock=clock)  # which process saves each result image

    @property
    def location(self) -> str:
        return self.engine.location

    async def close(self) -> None:
        await self.engine.close()

    # ---- writes -----------------------------------------------------------------------------------

    async def record_intent(
        self,
        *,
        idempotency_key: str,
        action: Action,
        params: TaskParams,
        output_dir: str | None,
        owner: str | None = None,
    ) -> TaskRow:
        """Record a create before it is sent. The same key again returns the existing row unchanged (its params
        may differ: the caller compares), except that a rejected one is made an intent again: RunAPI made
        nothing for it, so sending it again is a new attempt."""
        now, who = self._clock(), _owner(owner)
        text = params.model_dump_json()
        results = await self._run(
            Statement(
                f"INSERT INTO tasks ({COLUMNS}) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, '[]', NULL, NULL) "
                "ON CONFLICT (owner, idempotency_key) DO NOTHING",
                (who, idempotency_key, action, text, output_dir, INTENT_STATE, now, now),
            ),
            Statement(
                "UPDATE tasks SET status = ?, params = ?, output_dir = ?, error = NULL, updated_at = ? "
                "WHERE owner = ? AND idempotency_key = ? AND task_id IS NULL AND status = 'rejected'",
                (INTENT_STATE, text, output_dir, now, who, idempotency_key),
            ),
            Statement(f"SELECT {COLUMNS} FROM tasks WHERE owner = ? AND idempotency_key = ?", (who, idempotency_key)),
            transaction=True,
        )
        return _row(results[-1].rows[0])

    async def attach_task_id(self, idempotency_key: str, task_id: str, *, owner: str | None = None) -> None:
        """The create answered: keep the task id. An intent (no id yet) becomes `pending`; a later state stays."""
        waiting = tuple(MAY_EXIST_WITHOUT_ID)
        marks = _marks(waiting)
        try:
            (result,) = await self._run(
                Statement(
                    f"UPDATE tasks SET task_id = ?, updated_at = ?, "
                    f"status = CASE WHEN task_id IS NULL AND status IN ({marks}) THEN 'pending' ELSE status END, "
                    f"error = CASE WHEN task_id IS NULL AND status IN ({marks}) THEN NULL ELSE error END "
                    "WHERE owner = ? AND idempotency_key = ?",
                    (task_id, self._clock(), *waiting, *waiting, _owner(owner), idempotency_key),
                )
            )
        except Conflict:
            raise JournalError(
                f"Task '{task_id}' is already in the task journal under another idempotency key; "
                "call get_task with that task id to follow it."
            ) from None
        if result.rowcount == 0:
            raise JournalError(f"No journal entry has idempotency key '{idempotency_key}'; record the intent first.")

    async def mark_intent(
        self,
        idempotency_key: str,
        *,
        status: Literal["unknown", "rejected"],
        error: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Set the state (and error) of an intent that has no task id yet: `unknown` (no answer: the task may
        exist, and the same key recovers it) or `rejected` (RunAPI refused it; nothing was created). False
        when the row has a task id by now, or is not in a state that may change so."""
        who = _owner(owner)
        allowed_from = sources_of(status)
        (result,) = await self._run(
            Statement(
                "UPDATE tasks SET status = ?, error = ?, updated_at = ? WHERE owner = ? AND idempotency_key = ? "
                f"AND task_id IS NULL AND status IN ({_marks(allowed_from)})",
                (status, error, self._clock(), who, idempotency_key, *allowed_from),
            )
        )
        if result.rowcount == 0:
            log.warning(
                "task journal: intent %s was not marked %s (it has a task id, or a final state)",
                idempotency_key,
                status,
            )
        return result.rowcount > 0

    async def update(
        self,
        task_id: str,
        *,
        status: TaskState | None = None,
        images: Sequence[ImageRecord] | None = None,
        error: str | None = None,
        cost_cents: float | None = None,
    ) -> bool:
        """Change the fields given (None leaves a field as it is). False when no row has this task id, or when
        the status change is not allowed (`states.allowed`): then nothing changes and a warning is logged."""
        sets = (
            "status = COALESCE(?, status), images = COALESCE(?, images), error = COALESCE(?, error), "
            "cost_cents = COALESCE(?, cost_cents), updated_at = ?"
        )
        args: tuple[object, ...] = (
            status,
            None if images is None else _dump_images(images),
            error,
            cost_cents,
            self._clock(),
            task_id,
        )
        where = "task_id = ?"
        if status is not None:
            allowed_from = sources_of(status)
            where += f" AND status IN ({_marks(allowed_from)})"
            args = (*args, *allowed_from)
        (result,) = await self._run(Statement(f"UPDATE tasks SET {sets} WHERE {where}", args))
        if result.rowcount == 0 and status is not None:
            (found,) = await self._run(Statement("SELECT status FROM tasks WHERE task_id = ?", (task_id,)))
            if found.rows:
                log.warning(
                    "task journal: task %s stays %s; a change to %s is not allowed", task_id, found.rows[0][0], status
                )
        return result.rowcount > 0

    # ---- reads ------------------------------------------------------------------------------------

    async def get(self, task_id: str, owner: str | None = None) -> TaskRow | None:
        """The row for a task id; with `owner`, only that owner's (None: any owner's)."""
        where, args = _owner_filter("task_id = ?", (task_id,), owner)
        return _first(await self._run(Statement(f"SELECT {COLUMNS} FROM tasks WHERE {where}", args)))

    async def get_by_key(self, idempotency_key: str, owner: str | None = None) -> TaskRow | None:
        """The row an owner's idempotency key made (None: the local owner's)."""
        sql = f"SELECT {COLUMNS} FROM tasks WHERE owner = ? AND idempotency_key = ?"
        return _first(await self._run(Statement(sql, (_owner(owner), idempotency_key))))

    async def recent(
        self, *, limit: int = 20, status: TaskState | None = None, owner: str | None = None
    ) -> list[TaskRow]:
        """Newest first; optionally only one status, one owner's (None: every owner's)."""
        where, args = ("status = ?", (status,)) if status is not None else ("1 = 1", ())
        where, args = _owner_filter(where, args, owner)
        sql = f"SELECT {COLUMNS} FROM tasks WHERE {where} {NEWEST_FIRST} LIMIT ?"
        (result,) = await self._run(Statement(sql, (*args, max(1, min(limit, MAX_LIST)))))
        return [_row(r) for r in result.rows]

    async def _run(self, *statements: Statement, transaction: bool = False) -> list[Result]:
        return await self.engine.run(statements, transaction=transaction)


def _owner(owner: str | None) -> str:
    return LOCAL_OWNER if owner is None else owner


def _owner_filter(where: str, args: tuple[object, ...], owner: str | None) -> tuple[str, tuple[object, ...]]:
    return (where, args) if owner is None else (f"{where} AND owner = ?", (*args, owner))


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _dump_images(images: Sequence[ImageRecord]) -> str:
    return json.dumps([i.model_dump() for i in images], ensure_ascii=False)


def _first(results: list[Result]) -> TaskRow | None:
    rows = results[0].rows
    return _row(rows[0]) if rows else None


def _row(row: tuple[Any, ...]) -> TaskRow:
    owner, key, task_id, action, params, output_dir, status, created, updated, images, error, cost = row
    try:
        return TaskRow(
            owner=owner,
            idempotency_key=key,
            task_id=task_id,
            action=action,
            params=TaskParams.model_validate_json(params),
            output_dir=output_dir,
            status=status,
            created_at=float(created),
            updated_at=float(updated),
            images=_IMAGES.validate_json(images or "[]"),
            error=error,
            cost_cents=None if cost is None else float(cost),
        )
    except ValidationError as exc:
        raise JournalError(
            f"A task journal row for key '{key}' cannot be read ({exc.error_count()} bad fields)."
        ) from None
