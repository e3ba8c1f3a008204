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
import functools
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
# Past the latest finish the forecast expects, reads back off from the schedule's start by this factor.
BACKOFF_FACTOR = 1.5
# A forecast needs this many finished tasks; fewer say too little about the spread.
MIN_SAMPLES = 3
# What one status read is worth in seconds of delay, as a multiple of the floor between reads: the exchange
# rate the forecast's schedule is optimised for (python -m bench.callbacks prints what it buys).
READ_WORTH_FLOORS = 0.2
# The smoothing of the durations seen (in log seconds) never goes below this: a handful of equal durations
# still stand for a spread, since each was measured only to within half the gap between two reads.
MIN_LOG_BANDWIDTH = 0.04
# The schedule is planned on a grid of at most this many points between the earliest and latest finish.
MAX_GRID_POINTS = 400


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

    The durations are smoothed into a distribution (a kernel estimate in log seconds), and the read times
    are the ones that minimise the expected delay from finish to read plus `worth` seconds per read: the
    optimal inspection schedule, found by dynamic programming on a grid. In practice: one read just before
    the earliest likely finish, reads dense where finishes are likely, sparse where few are, never closer
    than the floor nor (after the first) further apart than the schedule's maximum, planned up to just past
    the latest finish seen."""

    durations: tuple[float, ...] = ()

    @classmethod
    def of(cls, durations: Sequence[float]) -> Forecast:
        return cls(tuple(sorted(d for d in durations if d > 0 and math.isfinite(d))))

    @property
    def usable(self) -> bool:
        return len(self.durations) >= MIN_SAMPLES

    def read_times(self, floor: float, maximum: float, worth: float | None = None) -> list[float]:
        """Seconds after the create at which to read, up to where the forecast expects every task done."""
        worth = floor * READ_WORTH_FLOORS if worth is None else worth
        grid, done, mass_time = self._grid(floor)
        last = len(grid) - 1
        shortest = max(1, math.ceil(floor / (grid[1] - grid[0]) - 1e-9)) if last else 1
        longest = max(shortest, int(maximum / (grid[1] - grid[0]) + 1e-9)) if last else 1

        def delay(i: float, f_i: float, m_i: float, j: int) -> float:
            """Expected delay, over tasks finishing between a read at time i and one at grid[j]."""
            return grid[j] * (done[j] - f_i) - (mass_time[j] - m_i)

        # cost[k]: expected delay plus read worth still to come after a read at grid[k] found the task running.
        cost = [0.0] * (last + 1)
        after = [last] * (last + 1)
        for k in range(last - 1, -1, -1):
            still = 1.0 - done[k]
            best, pick = math.inf, last
            for j in range(k + shortest, min(k + longest, last) + 1):
                c = worth * still + delay(grid[k], done[k], mass_time[k], j) + cost[j]
                if c < best:
                    best, pick = c, j
            if best == math.inf:  # the grid ends within one floor: the last read is the end
                best = worth * still + delay(grid[k], done[k], mass_time[k], last)
            cost[k], after[k] = best, pick
        # The first read, from the create: it may wait as long as the forecast says nothing finishes.
        first = min(range(last + 1), key=lambda j: worth + delay(0.0, 0.0, 0.0, j) + cost[j])
        times = [grid[first]]
        k = first
        while k < last:
            k = after[k]
            times.append(grid[k])
        return times

    def _grid(self, floor: float) -> tuple[list[float], list[float], list[float]]:
        """Grid times, the share of tasks done by each, and the running sum of duration x share (for delays)."""
        logs = [math.log(d) for d in self.durations]
        mean = sum(logs) / len(logs)
        spread = math.sqrt(sum((x - mean) ** 2 for x in logs) / len(logs))
        width = max(1.06 * spread * len(logs) ** -0.2, MIN_LOG_BANDWIDTH)  # Silverman's rule of thumb
        # The grid ends one kernel width past the latest finish seen: a task still running there is slower than
        # any seen, and reads back off from it (ReadPlan) instead of crowding where the estimate runs out.
        lo, hi = math.exp(logs[0] - 3 * width), math.exp(logs[-1] + width)
        step = max(floor / 4, (hi - lo) / MAX_GRID_POINTS)
        grid = [lo + i * step for i in range(math.ceil((hi - lo) / step) + 1)]
        root2 = math.sqrt(2.0) * width
        done = [sum(0.5 * math.erfc((x - math.log(t)) / root2) for x in logs) / len(logs) for t in grid]
        done[0], done[-1] = 0.0, 1.0
        mass_time = [0.0]
        for i in range(1, len(grid)):
            mass_time.append(mass_time[-1] + (grid[i - 1] + grid[i]) / 2 * (done[i] - done[i - 1]))
        return grid, done, mass_time


@functools.lru_cache(maxsize=64)
def planned_reads(forecast: Forecast, floor: float, maximum: float) -> tuple[float, ...]:
    """The forecast's read times, planned once per forecast (a few ms of arithmetic: callers on an event loop
    plan it in a worker thread first); a forecast lives until its kind of task has new durations."""
    return tuple(forecast.read_times(floor, maximum))


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
            self._times = list(planned_reads(self.forecast, self.schedule.floor, self.schedule.maximum))
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
