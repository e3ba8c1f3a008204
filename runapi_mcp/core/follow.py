"""Following a created task: poll until it is done or the wait budget runs out, then save its images.

Every state learned goes to the journal (shielded from cancellation), so a call that is cut off leaves a task
that get_task continues. One deadline bounds the whole follow: reads, and the downloads after them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import partial

import anyio

from runapi_mcp.core import pricing
from runapi_mcp.core.callbacks import WAKEUPS
from runapi_mcp.core.concurrency import gather
from runapi_mcp.core.journal import ImageRecord, Journal, TaskState
from runapi_mcp.core.progress import ProgressTracker
from runapi_mcp.core.saving import URL_LIFETIME_SECONDS, ResultSaver
from runapi_mcp.core.timing import Learning
from runapi_mcp.core.types import Cost, SavedImage, TaskOutcome, TaskRun
from runapi_mcp.core.unrecorded import recorded
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient
from runapi_mcp.runapi.errors import ConnectionFailedError, RateLimitError, RunAPIError
from runapi_mcp.runapi.models import TaskStatus
from runapi_mcp.runapi.polling import (
    Forecast,
    PollOutcome,
    PollSchedule,
    ReadPlan,
    planned_reads,
    poll_until_done,
)

# A result that finished with the budget all but spent still gets this long to download before the call
# returns its URL and the next step instead.
MIN_SAVE_SECONDS = 1.0
# With callbacks, the safety net reads this many times less often than the schedule would.
SAFETY_NET_FACTOR = 5.0


def safety_net(schedule: PollSchedule) -> PollSchedule:
    slow = schedule.maximum * SAFETY_NET_FACTOR
    return PollSchedule(initial=slow, factor=1.0, maximum=slow, floor=schedule.floor)


class TaskFollower:
    def __init__(
        self,
        client: RunAPIClient,
        journal: Journal,
        saver: ResultSaver,
        schedule: PollSchedule,
        learning: Learning | None = None,
        *,
        callbacks: bool = False,
    ) -> None:
        # The poll loop tolerates transient errors itself; retrying inside one poll would overrun the budget.
        self._poller = client.with_retry(RetryPolicy(max_retries=0))
        self._client = client
        self._journal = journal
        self._saver = saver
        self._schedule = schedule
        self._learning = learning or Learning(journal)
        # With callbacks on, a callback ends the wait; reads are the safety net for a lost one, at a slow pace.
        self._plan_schedule = safety_net(schedule) if callbacks else schedule
        self._callbacks = callbacks

    async def follow(
        self,
        run: TaskRun,
        deadline: float,
        tracker: ProgressTracker,
        *,
        fetch_first: bool,
        first_delay: float | None = None,
    ) -> TaskOutcome:
        task_id = run.task_id
        if task_id is None:
            raise ValueError("a run is followed only once it has a task id")
        started = run.created_at or time.time()
        resolution = run.params.output_resolution or "default"
        forecast = Forecast() if self._callbacks else await self._learning.forecast(run.action, resolution)
        if forecast.usable:  # plan off the event loop; ReadPlan then finds it cached
            schedule = self._plan_schedule
            await anyio.to_thread.run_sync(planned_reads, forecast, schedule.floor, schedule.maximum)
        plan = ReadPlan(self._plan_schedule, forecast, age=lambda: time.time() - started)
        observed = _Observed()

        async def fetch() -> TaskStatus:
            observed.before_read()
            return await self._poller.get_task(run.action, task_id)

        async def on_poll(status: TaskStatus | None, polls: int) -> None:
            observed.after_read(status)
            await tracker.update(task_id, status, run.idempotency_key)

        with WAKEUPS.waiting(task_id) as wake:
            result = await poll_until_done(
                fetch,
                schedule=self._schedule,
                deadline=deadline,
                on_poll=on_poll,
                fetch_first=fetch_first,
                plan=plan,
                wake=wake,
                first_delay=first_delay,
            )
        status = result.status
        if status is None or result.last_error is not None:
            return self._no_answer(run, task_id, result)
        if result.unrecognized is not None:
            return await self._unrecognized(run, task_id, result.unrecognized)
        if not result.finished:
            state: TaskState = status.state or "pending"
            note = await recorded(self._journal.update(task_id, status=state), task_id)
            return replace(pending(run, state), note=note)
        tracker.finish(task_id, status)
        took = observed.duration(started, self._schedule.maximum)
        if took is not None:
            await self._learning.record(run.action, resolution, took)
        if status.state == "failed":
            error = status.error or "RunAPI reported the task as failed"
            note = await recorded(self._journal.update(task_id, status="failed", error=error), task_id)
            return TaskOutcome(
                action=run.action,
                idempotency_key=run.idempotency_key,
                task_id=task_id,
                status="failed",
                error=error,
                cost=Cost(0.0, "not billed", "failed generations are not billed"),
                note=note,
            )
        if not status.images:
            return await self._no_images(run, task_id)
        return await self._complete(run, task_id, status, deadline)

    def _no_answer(self, run: TaskRun, task_id: str, result: PollOutcome) -> TaskOutcome:
        err = result.last_error
        if err is not None and not err.retryable:
            raise err
        if err is None:
            # No read failed: the budget ran out before one was due, or cut one off. The create answered, so
            # the task exists and is still running as far as anyone here knows.
            return pending(run, (result.status.state if result.status else None) or "pending")
        return TaskOutcome(
            action=run.action,
            idempotency_key=run.idempotency_key,
            task_id=task_id,
            status="unknown",
            error=err.message if err else "no status answer within the wait budget",
            next_action="get_task",
            next_hint=f"{_why_no_status(err)}; call get_task with task_id '{task_id}' in a moment",
        )

    async def _unrecognized(self, run: TaskRun, task_id: str, word: str) -> TaskOutcome:
        said = f"the status {word!r}" if word.strip() else "an empty status"
        return TaskOutcome(
            action=run.action,
            idempotency_key=run.idempotency_key,
            task_id=task_id,
            status="unknown",
            error=f"RunAPI kept answering {said}, which this version of runapi-mcp does not know",
            next_action="get_task",
            next_hint=f"call get_task with task_id '{task_id}' in a minute; if the status stays {said}, "
            "check the task in RunAPI's dashboard or update runapi-mcp",
        )

    async def _no_images(self, run: TaskRun, task_id: str) -> TaskOutcome:
        # Not a success: nothing came back. The journal keeps the task open, so get_task reads it again.
        note = await recorded(self._journal.update(task_id, status="processing"), task_id)
        return TaskOutcome(
            action=run.action,
            idempotency_key=run.idempotency_key,
            task_id=task_id,
            status="unknown",
            error="RunAPI reported the task completed but returned no images",
            next_action="get_task",
            next_hint=f"call get_task with task_id '{task_id}' in a moment (the images may be attached late); "
            "if it still has none, ask RunAPI support about this task id before generating again",
            note=note,
        )

    async def _complete(self, run: TaskRun, task_id: str, status: TaskStatus, deadline: float) -> TaskOutcome:
        cost = await pricing.task_cost(self._client, run.action, status, run.params.output_resolution)
        # Downloads share the call's budget: what does not arrive in time is reported by URL, saved by get_task.
        save_seconds = max(deadline - time.monotonic(), MIN_SAVE_SECONDS)

        async def bounded_save(index: int, url: str | None) -> SavedImage:
            with anyio.move_on_after(save_seconds):
                return await self._saver.save(run, task_id, index, url, cost)
            record = ImageRecord(index=index, url=url, url_expires_at=_expiry())
            return SavedImage(
                record,
                save_error="the download did not finish within the wait budget; "
                f"call get_task with task_id '{task_id}' to save it",
            )

        images = await gather([partial(bounded_save, i, image.url) for i, image in enumerate(status.images)])
        completed = self._journal.update(
            task_id,
            status="completed",
            images=[image.record for image in images],
            cost_cents=None if cost.usd is None else cost.usd * 100,
        )
        note = await recorded(completed, task_id)
        return TaskOutcome(
            action=run.action,
            idempotency_key=run.idempotency_key,
            task_id=task_id,
            status="completed",
            images=tuple(images),
            cost=cost,
            note=note,
        )


class _Observed:
    """When this call read the task: the read that saw it unfinished, and the one that saw it done."""

    def __init__(self) -> None:
        self.last_unfinished: float | None = None
        self.done_at: float | None = None
        self._read_started = 0.0

    def before_read(self) -> None:
        self._read_started = time.time()

    def after_read(self, status: TaskStatus | None) -> None:
        if status is None:
            return
        if status.is_terminal:
            self.done_at = self.done_at or self._read_started
        else:
            self.last_unfinished = self._read_started

    def duration(self, started: float, widest_gap: float) -> float | None:
        """The task's run time, when this call saw it both unfinished and done closely enough to say."""
        if self.done_at is None or self.last_unfinished is None:
            return None
        gap = self.done_at - self.last_unfinished
        if gap > 2 * widest_gap:
            return None
        return (self.last_unfinished + gap / 2) - started


def _expiry() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + URL_LIFETIME_SECONDS))


def pending(run: TaskRun, state: TaskState = "pending") -> TaskOutcome:
    return TaskOutcome(
        action=run.action,
        idempotency_key=run.idempotency_key,
        task_id=run.task_id,
        status=state,
        next_action="get_task",
        next_hint=f"still processing; call get_task with task_id '{run.task_id}' and wait=true",
    )


def unfinished(run: TaskRun, exc: Exception) -> TaskOutcome:
    """A created task whose follow-up failed: it exists, so it is reported by its id with get_task as the next step."""
    return TaskOutcome(
        action=run.action,
        idempotency_key=run.idempotency_key,
        task_id=run.task_id,
        status="unknown",
        error=str(exc),
        next_action="get_task",
        next_hint=f"call get_task with task_id '{run.task_id}' in a moment",
    )


def _why_no_status(err: RunAPIError | None) -> str:
    """Why no status was read, as it was: a 429 or a 503 is an answer, not silence."""
    if err is None or isinstance(err, ConnectionFailedError):
        return "RunAPI did not answer"
    if isinstance(err, RateLimitError):
        return "RunAPI is rate limiting status reads (429)"
    return f"RunAPI's status answers failed ({err.status or 'no status'})"
