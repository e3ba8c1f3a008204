"""What the journal has learned about how long tasks take, read once a while rather than once a call.

The forecast for a kind of task (action and resolution) is cached per journal for a short while: every
follow needs it, and it changes only as tasks finish.
"""

from __future__ import annotations

import logging
import time
import weakref

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal import Journal
from runapi_mcp.core.journal.signals import recent_durations, record_duration
from runapi_mcp.runapi.models import Action
from runapi_mcp.runapi.polling import Forecast

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0

_Kind = tuple[str, str]
_CACHES: weakref.WeakKeyDictionary[Journal, dict[_Kind, tuple[float, Forecast]]] = weakref.WeakKeyDictionary()


class Learning:
    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._cache = _CACHES.setdefault(journal, {})

    async def forecast(self, action: Action, resolution: str) -> Forecast:
        kind = (action, resolution)
        cached = self._cache.get(kind)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            forecast = Forecast.of(await recent_durations(self._journal, action, resolution))
        except JournalError as exc:
            # Timing is an optimisation: without it the fixed schedule still finds the result.
            log.info("no task durations to learn from: %s", exc)
            forecast = Forecast()
        self._cache[kind] = (time.monotonic(), forecast)
        return forecast

    async def record(self, action: Action, resolution: str, seconds: float) -> None:
        try:
            await record_duration(self._journal, action, resolution, seconds, now=time.time())
        except JournalError as exc:
            log.info("task duration not recorded: %s", exc)
            return
        cached = self._cache.get((action, resolution))
        if cached is not None and not cached[1].usable:
            del self._cache[(action, resolution)]  # the first few samples count at once
