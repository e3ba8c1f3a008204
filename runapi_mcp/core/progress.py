"""One monotonic progress stream for a call that follows several tasks at once.

Progress counts stages, not seconds: each task goes created (1), generating (2), finished (3), so the
total is 3 per task and a bar moves when something happens. (Elapsed time over the wait budget jumped
from 18% to done: RunAPI's generation time is not known in advance.) Hosts show the message, not the
model, so it says in words what is happening; a task's first message carries its full id and its
idempotency key, which are what a user needs to follow it up if the call is cut short.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from runapi_mcp.runapi.models import TaskStatus

# done, total, message: forwarded to MCP progress notifications by the server.
ProgressFn = Callable[[float, float | None, str], Awaitable[None]]

STAGES_PER_TASK = 3
_STAGE = {"pending": 1, "processing": 2, "completed": 3, "failed": 3}
_WORDS = {
    "pending": "queued at RunAPI",
    "processing": "generating",
    "completed": "finished",
    "failed": "failed",
}


class ProgressTracker:
    def __init__(self, report: ProgressFn, total_tasks: int, deadline: float) -> None:
        self._report = report
        self._tasks = total_tasks
        self._start = time.monotonic()
        self._budget = max(deadline - self._start, 0.0)
        self._states: dict[str, str | None] = {}  # None: created, no status read yet
        self._announced: set[str] = set()
        self._last = 0

    async def update(self, task_id: str, status: TaskStatus | None, key: str | None = None) -> None:
        if status is not None:
            self._states[task_id] = status.state or status.status
        state = self._states.setdefault(task_id, None)
        done = sum(1 for s in self._states.values() if s in ("completed", "failed"))
        # A task with no status read yet has still reached the first stage: its create call was answered.
        stages = sum(_STAGE.get(s or "", 1) for s in self._states.values())
        self._last = max(self._last, min(stages, STAGES_PER_TASK * self._tasks))
        words = _WORDS.get(state or "", f"status {state}" if state else "no answer from RunAPI yet")
        if task_id not in self._announced:
            self._announced.add(task_id)
            with_key = f" (idempotency_key {key})" if key else ""
            message = f"Task {task_id}{with_key} created: {words}."
        else:
            elapsed = time.monotonic() - self._start
            message = f"Task {task_id[:8]}: {words} after {elapsed:.0f} s (waiting up to {self._budget:.0f} s)."
        if self._tasks > 1:
            message += f" {done} of {self._tasks} tasks finished."
        await self._report(self._last, STAGES_PER_TASK * self._tasks, message)

    def finish(self, task_id: str, status: TaskStatus) -> None:
        self._states[task_id] = status.state or status.status
