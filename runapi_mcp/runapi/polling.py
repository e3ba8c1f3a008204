"""Wait for a task within a time budget: quick first polls, backing off, honouring Retry-After.

Running out of time is an outcome, not an error: the task keeps running at RunAPI and can be read later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio

from .errors import RunAPIError
from .models import TaskStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollSchedule:
    """Delays between status reads: initial, initial*factor, ... capped at maximum."""

    initial: float = 2.0
    factor: float = 1.5
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.maximum < self.initial:
            raise ValueError("PollSchedule needs initial > 0, factor >= 1 and maximum >= initial")

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield min(delay, self.maximum)
            delay = min(delay * self.factor, self.maximum)


@dataclass(frozen=True)
class PollOutcome:
    status: TaskStatus | None  # the last status seen (None if no poll ever succeeded)
    finished: bool  # status is terminal (completed or failed)
    polls: int  # status requests made
    last_error: RunAPIError | None  # the error of the latest poll, if that poll failed


async def poll_until_done(
    fetch: Callable[[], Awaitable[TaskStatus]],
    *,
    schedule: PollSchedule,
    deadline: float,
    on_poll: Callable[[TaskStatus | None, int], Awaitable[None]] | None = None,
    fetch_first: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> PollOutcome:
    """Read the status until it is terminal or `deadline` (absolute, on `clock`) passes.

    Transient errors (`err.retryable`) are tolerated; any other RunAPIError is raised. `on_poll` gets the
    latest status seen and the number of polls so far after every attempt. With `fetch_first=False` the
    first read waits one delay (for a task that was just created).
    """
    delays = schedule.delays()
    status: TaskStatus | None = None
    last_error: RunAPIError | None = None
    polls = 0
    hint: float | None = None  # the server's Retry-After for the next read
    warned: set[str] = set()

    if not fetch_first and not await _wait(hint, delays, deadline, clock):
        return PollOutcome(status=None, finished=False, polls=0, last_error=None)
    while True:
        try:
            status = await fetch()
        except RunAPIError as err:
            if not err.retryable:
                raise
            last_error = err
            hint = err.retry_after
            logger.info("status read failed, will retry: %s", err.message)
        else:
            last_error = None
            hint = status.retry_after
            if status.state is None and status.status not in warned:
                warned.add(status.status)
                logger.warning("task %s has a status this version does not know: %r; still waiting", status.id,
                               status.status)
        polls += 1
        if on_poll is not None:
            await on_poll(status, polls)
        if last_error is None and status is not None and status.is_terminal:
            return PollOutcome(status=status, finished=True, polls=polls, last_error=None)
        if not await _wait(hint, delays, deadline, clock):
            return PollOutcome(status=status, finished=False, polls=polls, last_error=last_error)


async def _wait(hint: float | None, delays: Iterator[float], deadline: float, clock: Callable[[], float]) -> bool:
    """Sleep until the next read, never past the deadline; False when no time is left for another read."""
    remaining = deadline - clock()
    if remaining <= 0:
        return False
    # A zero Retry-After would turn into a tight loop of requests; it means "no hint" here.
    delay = hint if hint is not None and hint > 0 else next(delays)
    await anyio.sleep(min(delay, remaining))
    return True
