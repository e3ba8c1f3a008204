"""The sandbox's notion of now: wall time plus an offset that tests can push forward."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Jump ahead, so tests can see tasks finish and URLs expire without sleeping."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds


def iso(timestamp: float) -> str:
    """RunAPI's timestamp form: ISO 8601 in UTC with a Z."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
