"""One monotonic progress stream for a call that follows several tasks at once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from runapi_mcp.runapi.models import TaskStatus

# done, total, message: forwarded to MCP progress notifications by the server.
ProgressFn = Callable[[float, float | None, str], Awaitable[None]]


class ProgressTracker:
    """Turns many tasks' polls into one monotonic progress stream (elapsed seconds of the budget)."""

    def __init__(self, report: ProgressFn, total_tasks: int, deadline: float) -> None:
        self._report = report
        self._total = total_tasks
        self._start = time.monotonic()
        self._budget = max(deadline - self._start, 0.0)
        self._states: dict[str, str] = {}
        self._last = 0.0

    async def update(self, task_id: str, status: TaskStatus | None) -> None:
        if status is not None:
            self._states[task_id] = status.state or status.status
        done = sum(1 for s in self._states.values() if s in ("completed", "failed"))
        elapsed = max(time.monotonic() - self._start, self._last + 0.001)
        self._last = elapsed
        state = self._states.get(task_id, "no answer yet")
        message = f"{done}/{self._total} tasks done; task {task_id[:8]} {state}"
        await self._report(round(elapsed, 3), round(self._budget, 3) or None, message)

    def finish(self, task_id: str, status: TaskStatus) -> None:
        self._states[task_id] = status.state or status.status
