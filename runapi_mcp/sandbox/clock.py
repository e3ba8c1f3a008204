"""The sandbox's notion of now: wall time, optionally running faster, plus an offset tests push forward."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    def __init__(self, scale: float = 1.0) -> None:
        self._scale = scale
        self._wall_start = time.time()
        self._offset = 0.0

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> float:
        # Starts at the wall time of the start, then runs `scale` times as fast.
        return self._wall_start + (time.time() - self._wall_start) * self._scale + self._offset

    def to_wall(self, moment: float) -> float:
        """The wall time (time.time()) at which the sandbox's clock reads `moment`."""
        return self._wall_start + (moment - self._offset - self._wall_start) / self._scale

    def wall_delay(self, moment: float) -> float:
        """Wall seconds from now until the sandbox's clock reads `moment` (0 when it already has)."""
        return max(0.0, (moment - self.now()) / self._scale)

    def set_reading(self, moment: float) -> None:
        """Read `moment` now and run on from there (a restart continues the clock it saved)."""
        self._wall_start = time.time()
        self._offset = moment - self._wall_start

    def advance(self, seconds: float) -> None:
        """Jump ahead, so tests can see tasks finish and URLs expire without sleeping."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds


def iso(timestamp: float) -> str:
    """RunAPI's timestamp form: ISO 8601 in UTC with a Z."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
