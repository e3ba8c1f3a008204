"""Creating a task without ever losing or double-paying one, and the one place that decides what a failed
create means.

Order of events, so that nothing is lost whatever fails or is cancelled:
1. the intent (idempotency key and parameters) goes to the journal;
2. the create is sent with that key (retries reuse it, so RunAPI makes at most one task);
3. the task id goes to the journal the moment it is known (shielded from cancellation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import anyio

from runapi_mcp.core.callbacks import CallbackIssuer
from runapi_mcp.core.journal import Journal, TaskRow
from runapi_mcp.core.types import TaskOutcome, TaskRun
from runapi_mcp.core.unrecorded import recorded
from runapi_mcp.runapi.client import RunAPIClient, build_request
from runapi_mcp.runapi.errors import ConnectionFailedError, RunAPIError, UnexpectedResponseError
from runapi_mcp.runapi.models import CreatedTask

TOOL_OF_ACTION = {"text_to_image": "generate_image", "edit_image": "edit_image"}
# A create gets at least this long even when the wait budget is all but spent: it is one request.
MIN_CREATE_SECONDS = 3.0


@dataclass(frozen=True)
class Created:
    run: TaskRun  # with its task id
    replayed: bool  # RunAPI (or our journal) already had this task: nothing new was charged
    note: str | None = None  # the journal could not record the task id (unrecorded.py)


class TaskCreator:
    def __init__(
        self,
        client: RunAPIClient,
        journal: Journal,
        owner: str | None,
        *,
        public_url: str | None = None,
    ) -> None:
        self._client = client
        self._journal = journal
        self._owner = owner
        self._callbacks = CallbackIssuer(journal, public_url, owner) if public_url else None

    async def create(
        self, run: TaskRun, existing: TaskRow | None, *, deadline: float | None = None
    ) -> Created | TaskOutcome:
        """The task for `run` (`existing` is the journal's row for its key, read once by the caller): followed
        when the journal knows its id, else created under the run's key; a failed create becomes an outcome.
        With `deadline` (monotonic), the create and its retries stop there: the outcome is then unknown."""
        if existing is not None and existing.task_id:
            return Created(replace(run, task_id=existing.task_id, created_at=existing.created_at), replayed=True)
        created_at = existing.created_at if existing is not None else None
        if existing is None or existing.status == "rejected":
            row = await self._journal.record_intent(
                idempotency_key=run.idempotency_key,
                action=run.action,
                params=run.params,
                output_dir=str(run.folder.path),
                owner=self._owner,
            )
            if row.task_id:  # another process created it between our read and our write
                return Created(replace(run, task_id=row.task_id, created_at=row.created_at), replayed=True)
            created_at = row.created_at
        fields: dict[str, object] = {
            "prompt": run.params.prompt,
            "aspect_ratio": run.params.aspect_ratio,
            "output_resolution": run.params.output_resolution,
        }
        if run.action == "edit_image":
            fields["source_image_urls"] = [source.url for source in run.params.sources]
        if self._callbacks is not None:
            url = await self._callbacks.url_for(run.idempotency_key)
            if url is not None:
                fields["callback_url"] = url
        # Retries and their Retry-After waits included: a create never waits past the call's budget.
        limit = math.inf if deadline is None else max(deadline - time.monotonic(), MIN_CREATE_SECONDS)
        try:
            created = await self._send(run, fields, limit)
        except RunAPIError as exc:
            return await self._failed(run, exc)
        note = await recorded(
            self._journal.attach_task_id(run.idempotency_key, created.id, owner=self._owner), created.id
        )
        if self._callbacks is not None:
            note = await recorded(self._callbacks.answered(run.idempotency_key), created.id) or note
        run = replace(run, task_id=created.id, created_at=created_at)
        return Created(run, replayed=created.task_replayed, note=note)

    async def _send(self, run: TaskRun, fields: dict[str, object], limit: float) -> CreatedTask:
        with anyio.move_on_after(limit):
            return await self._client.create_task(
                run.action, build_request(run.action, **fields), idempotency_key=run.idempotency_key
            )
        # Out of budget while RunAPI had not answered (or asked us to wait): the task may exist.
        raise ConnectionFailedError("RunAPI did not answer the create within the wait budget")

    async def _failed(self, run: TaskRun, exc: RunAPIError) -> TaskOutcome:
        """What a failed create means. Only an answer that says RunAPI refused the request means nothing was
        made; no answer, or an answer the contract does not allow, may hide a created (and charged) task."""
        key = run.idempotency_key
        if exc.task_id and exc.retryable:
            # RunAPI named the task even though the create failed: it exists, so keep and follow it.
            # (A 409 names the *other* request's task: that one is not ours to adopt.)
            note = await recorded(self._journal.attach_task_id(key, exc.task_id, owner=self._owner), exc.task_id)
            return TaskOutcome(
                action=run.action,
                idempotency_key=key,
                task_id=exc.task_id,
                status="unknown",
                error=exc.message,
                next_action="get_task",
                next_hint=f"call get_task with task_id '{exc.task_id}'",
                note=note,
            )
        if exc.retryable or isinstance(exc, UnexpectedResponseError):
            note = await recorded(
                self._journal.mark_intent(key, status="unknown", error=exc.message, owner=self._owner), key
            )
            return replace(unknown_create(run, exc.message), note=note)
        await recorded(self._journal.mark_intent(key, status="rejected", error=exc.message, owner=self._owner), key)
        return TaskOutcome(
            action=run.action, idempotency_key=key, task_id=None, status="rejected", error=exc.message, cause=exc
        )


def unknown_create(run: TaskRun, error: str | None) -> TaskOutcome:
    """A create whose outcome is unknown: the same call with the same key replays the task, or makes it once."""
    tool = TOOL_OF_ACTION[run.action]
    return TaskOutcome(
        action=run.action,
        idempotency_key=run.idempotency_key,
        task_id=None,
        status="unknown",
        error=error,
        next_action=tool,
        next_hint=f"call {tool} again with the same arguments and idempotency_key '{run.retry_key}'; "
        "RunAPI returns the same task and does not charge twice",
    )
