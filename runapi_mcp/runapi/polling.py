"""Wait for a task within a time budget: reads timed around its expected finish, woken early by a callback.

- One deadline bounds the wait: a read in flight gets only the time left, and no sleep runs past it.
- A floor between reads holds whatever `Retry-After` says (a hint of 0.001 s must not become a tight loop).
- With a forecast (how long such tasks took before), reads are few before the earliest finish seen, dense
  where finishes are likely, and back off past the latest; without one, the fixed back-off schedule.
- A status word this version does not know (or an empty one) is read a bounded number of times in a row,
  then reported as unrecognized rather than waited on for ever.
- A wake-up (a callback said the task is done) cuts the current sleep short: the next read is at once.

Running out of time is an outcome, not an error: the task keeps running at RunAPI and can be read later.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

import anyio

from .errors import RunAPIError
from .models import TaskStatus

logger = logging.getLogger(__name__)

# Reads in a row that may answer a status word we do not know before the wait stops and says so.
MAX_UNRECOGNIZED_READS = 5
# Past the latest finish seen, reads back off from the dense spacing by this factor each time.
BACKOFF_FACTOR = 1.5
# A forecast needs this many finished tasks; fewer say too little about the spread.
MIN_SAMPLES = 3
# Seconds of delay one status read is worth: the exchange rate the forecast's spacing is optimised for
# (python -m bench.callbacks prints what it buys against the fixed pollers).
READ_COST = 0.1
# The first read comes a little before the earliest finish seen.
EARLY_FACTOR = 0.95
MAX_PLANNED_READS = 400


@dataclass(frozen=True)
class PollSchedule:
    """Delays between status reads: initial, initial*factor, ... capped at maximum; never below floor."""

    initial: float = 2.0
    factor: float = 1.5
    maximum: float = 5.0
    floor: float = 0.5

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.maximum < self.initial or self.floor <= 0:
            raise ValueError("PollSchedule needs initial > 0, factor >= 1, maximum >= initial and floor > 0")

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield max(min(delay, self.maximum), self.floor)
            delay = min(delay * self.factor, self.maximum)


@dataclass(frozen=True)
class Forecast:
    """How long finished tasks of one kind took (seconds from create to finish): where to place reads.

    The first read waits for the earliest finish seen. After it, reads are spaced by how likely the task is
    to finish soon given that it has not yet (the hazard h(t), estimated from the durations): the gap that
    balances one more read against the delay it saves is sqrt(2 * READ_COST / h(t)) (Keller's inspection
    rule), kept between the schedule's floor and its maximum. Past the latest finish seen, reads back off."""

    durations: tuple[float, ...] = ()

    @classmethod
    def of(cls, durations: Sequence[float]) -> Forecast:
        return cls(tuple(sorted(d for d in durations if d > 0 and math.isfinite(d))))

    @property
    def usable(self) -> bool:
        return len(self.durations) >= MIN_SAMPLES

    def read_times(self, floor: float, maximum: float) -> list[float]:
        """Seconds after the create at which to read, up to the latest finish seen."""
        values, n = self.durations, len(self.durations)
        lo, hi = values[0], values[-1]
        window = max((hi - lo) / 10, 1.0)
        t = lo * EARLY_FACTOR
        times = [t]
        while t < hi and len(times) < MAX_PLANNED_READS:
            left = n - bisect.bisect_right(values, t)
            finishing = bisect.bisect_left(values, t + window) - bisect.bisect_left(values, t)
            hazard = finishing / (window * max(left, 1))
            gap = math.sqrt(2 * READ_COST / hazard) if hazard > 0 else maximum
            t += min(max(gap, floor), maximum)
            times.append(t)
        return times


@dataclass
class ReadPlan:
    """The next read's delay for one task: from the forecast when there is one, else the fixed schedule."""

    schedule: PollSchedule
    forecast: Forecast = field(default_factory=Forecast)
    age: Callable[[], float] = lambda: 0.0  # seconds since the task was created
    _times: list[float] = field(default_factory=list[float])
    _fixed: Iterator[float] | None = None
    _past: float = 0.0

    def __post_init__(self) -> None:
        if self.forecast.usable:
            self._times = self.forecast.read_times(self.schedule.floor, self.schedule.maximum)
        self._past = self.schedule.initial

    def next_delay(self, hint: float | None) -> float:
        """Seconds until the next read; a server's Retry-After is honoured, but never below the floor."""
        if hint is not None and hint > 0:
            return max(hint, self.schedule.floor)
        if not self._times:
            if self._fixed is None:
                self._fixed = self.schedule.delays()
            return next(self._fixed)
        now = self.age()
        i = bisect.bisect_right(self._times, now + self.schedule.floor * 0.5)
        if i < len(self._times):
            return max(self._times[i] - now, self.schedule.floor)
        # Past every finish seen: back off, up to the schedule's maximum.
        self._past = min(self._past * BACKOFF_FACTOR, self.schedule.maximum)
        return max(self._past, self.schedule.floor)


@dataclass(frozen=True)
class PollOutcome:
    status: TaskStatus | None  # the last status seen (None if no poll ever succeeded)
    finished: bool  # status is terminal (completed or failed)
    polls: int  # status requests made
    last_error: RunAPIError | None  # the error of the latest poll, if that poll failed
    # The status word (possibly "") that kept coming back unrecognized until the wait stopped on it.
    unrecognized: str | None = None
    timed_out_read: bool = False  # the last read was cut off by the deadline


class WakeSignal:
    """Set from outside (a callback arrived) to end the current sleep; cleared after each read."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def clear(self) -> None:
        if self._event.is_set():
            self._event = anyio.Event()

    async def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when woken before they ran out."""
        with anyio.move_on_after(max(seconds, 0.0)):
            await self._event.wait()
            return True
        return False


async def poll_until_done(
    fetch: Callable[[], Awaitable[TaskStatus]],
    *,
    schedule: PollSchedule,
    deadline: float,
    on_poll: Callable[[TaskStatus | None, int], Awaitable[None]] | None = None,
    fetch_first: bool = True,
    clock: Callable[[], float] = time.monotonic,
    plan: ReadPlan | None = None,
    wake: WakeSignal | None = None,
    first_delay: float | None = None,
) -> PollOutcome:
    """Read the status until it is terminal or `deadline` (absolute, on `clock`) passes.

    Transient errors (`err.retryable`) are tolerated; any other RunAPIError is raised. `on_poll` gets the
    latest status seen and the number of polls so far after every attempt. With `fetch_first=False` the
    first read waits one delay (`first_delay` when given: a continuation right after another read).
    """
    plan = plan or ReadPlan(schedule)
    wake = wake or WakeSignal()
    status: TaskStatus | None = None
    last_error: RunAPIError | None = None
    polls = 0
    hint: float | None = None  # the server's Retry-After for the next read
    unrecognized_run = 0

    if not fetch_first:
        delay = plan.next_delay(None) if first_delay is None else first_delay
        if not await _sleep(delay, deadline, clock, wake):
            return PollOutcome(status=None, finished=False, polls=0, last_error=None)
    while True:
        wake.clear()
        remaining = deadline - clock()
        try:
            fresh = await _read(fetch, max(remaining, schedule.floor))
        except RunAPIError as err:
            if not err.retryable:
                raise
            last_error = err
            hint = err.retry_after
            logger.info("status read failed, will retry: %s", err.message)
        else:
            if fresh is None:
                return PollOutcome(status, finished=False, polls=polls + 1, last_error=last_error, timed_out_read=True)
            status, last_error, hint = fresh, None, fresh.retry_after
            if status.state is None:
                unrecognized_run += 1
                if unrecognized_run == 1:
                    logger.warning("task %s has a status this version does not know: %r", status.id, status.status)
            else:
                unrecognized_run = 0
        polls += 1
        if on_poll is not None:
            await on_poll(status, polls)
        if last_error is None and status is not None and status.is_terminal:
            return PollOutcome(status=status, finished=True, polls=polls, last_error=None)
        if status is not None and last_error is None and unrecognized_run >= MAX_UNRECOGNIZED_READS:
            return PollOutcome(status=status, finished=False, polls=polls, last_error=None, unrecognized=status.status)
        if not await _sleep(plan.next_delay(hint), deadline, clock, wake):
            return PollOutcome(status=status, finished=False, polls=polls, last_error=last_error)


async def _read(fetch: Callable[[], Awaitable[TaskStatus]], seconds: float) -> TaskStatus | None:
    """One read given `seconds` at most (what is left of the budget); None when it was cut off."""
    with anyio.move_on_after(seconds):
        return await fetch()
    return None


async def _sleep(delay: float, deadline: float, clock: Callable[[], float], wake: WakeSignal) -> bool:
    """Sleep until the next read, never past the deadline; False when no time is left for another read."""
    remaining = deadline - clock()
    if remaining <= 0:
        return False
    if delay >= remaining:
        # The read would land after the deadline: a wake-up may still come before it.
        return await wake.wait(remaining)
    await wake.wait(delay)
    return True
