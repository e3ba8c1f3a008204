"""Following a created task: poll until it is done or the wait budget runs out, then save its images.

Every state learned goes to the journal (shielded from cancellation), so a call that is cut off leaves a task
that get_task continues.
"""

from __future__ import annotations

from functools import partial

import anyio

from runapi_mcp.core import pricing
from runapi_mcp.core.concurrency import gather
from runapi_mcp.core.journal import Journal, TaskState
from runapi_mcp.core.progress import ProgressTracker
from runapi_mcp.core.saving import ResultSaver
from runapi_mcp.core.types import Cost, TaskOutcome, TaskRun
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient
from runapi_mcp.runapi.errors import ConnectionFailedError, RateLimitError, RunAPIError
from runapi_mcp.runapi.models import TaskStatus
from runapi_mcp.runapi.polling import PollSchedule, poll_until_done


class TaskFollower:
    def __init__(self, client: RunAPIClient, journal: Journal, saver: ResultSaver, schedule: PollSchedule) -> None:
        # The poll loop tolerates transient errors itself; retrying inside one poll would overrun the budget.
        self._poller = client.with_retry(RetryPolicy(max_retries=0))
        self._client = client
        self._journal = journal
        self._saver = saver
        self._schedule = schedule

    async def follow(
        self, run: TaskRun, deadline: float, tracker: ProgressTracker, *, fetch_first: bool
    ) -> TaskOutcome:
        task_id = run.task_id
        if task_id is None:
            raise ValueError("a run is followed only once it has a task id")

        async def fetch() -> TaskStatus:
            return await self._poller.get_task(run.action, task_id)

        async def on_poll(status: TaskStatus | None, polls: int) -> None:
            await tracker.update(task_id, status, run.idempotency_key)

        result = await poll_until_done(
            fetch, schedule=self._schedule, deadline=deadline, on_poll=on_poll, fetch_first=fetch_first
        )
        status = result.status
        if status is None:
            err = result.last_error
            if err is not None and not err.retryable:
                raise err
            return TaskOutcome(
                action=run.action, idempotency_key=run.idempotency_key, task_id=task_id, status="unknown",
                error=err.message if err else None, next_action="get_task",
                next_hint=f"{_why_no_status(err)}; call get_task with task_id '{task_id}' in a moment",
            )
        tracker.finish(task_id, status)
        if status.state == "completed":
            return await self._complete(run, task_id, status)
        if status.state == "failed":
            error = status.error or "RunAPI reported the task as failed"
            with anyio.CancelScope(shield=True):
                await self._journal.update(task_id, status="failed", error=error)
            return TaskOutcome(
                action=run.action, idempotency_key=run.idempotency_key, task_id=task_id, status="failed",
                error=error, cost=Cost(0.0, "not billed", "failed generations are not billed"),
            )
        # A status spelling RunAPI's SDKs do not know yet still means "not done": the journal keeps it pending.
        state: TaskState = status.state or "pending"
        with anyio.CancelScope(shield=True):
            await self._journal.update(task_id, status=state)
        return pending(run, state)

    async def _complete(self, run: TaskRun, task_id: str, status: TaskStatus) -> TaskOutcome:
        cost = await pricing.task_cost(self._client, run.action, status, run.params.output_resolution)
        images = await gather(
            [partial(self._saver.save, run, task_id, i, image.url, cost) for i, image in enumerate(status.images)]
        )
        with anyio.CancelScope(shield=True):
            await self._journal.update(
                task_id, status="completed", images=[image.record for image in images],
                cost_cents=None if cost.usd is None else cost.usd * 100,
            )
        return TaskOutcome(
            action=run.action, idempotency_key=run.idempotency_key, task_id=task_id, status="completed",
            images=tuple(images), cost=cost,
        )


def pending(run: TaskRun, state: TaskState = "pending") -> TaskOutcome:
    return TaskOutcome(
        action=run.action, idempotency_key=run.idempotency_key, task_id=run.task_id, status=state,
        next_action="get_task",
        next_hint=f"still processing; call get_task with task_id '{run.task_id}' and wait=true",
    )


def unfinished(run: TaskRun, exc: Exception) -> TaskOutcome:
    """A created task whose follow-up failed: it exists, so it is reported by its id with get_task as the next step."""
    return TaskOutcome(
        action=run.action, idempotency_key=run.idempotency_key, task_id=run.task_id, status="unknown",
        error=str(exc), next_action="get_task",
        next_hint=f"call get_task with task_id '{run.task_id}' in a moment",
    )


def _why_no_status(err: RunAPIError | None) -> str:
    """Why no status was read, as it was: a 429 or a 503 is an answer, not silence."""
    if err is None or isinstance(err, ConnectionFailedError):
        return "RunAPI did not answer"
    if isinstance(err, RateLimitError):
        return "RunAPI is rate limiting status reads (429)"
    return f"RunAPI's status answers failed ({err.status or 'no status'})"
