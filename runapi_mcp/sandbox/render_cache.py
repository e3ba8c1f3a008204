"""Rendered PNGs by content key: each rendered once even under concurrent downloads, the newest few kept."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

import anyio


class RenderCache:
    def __init__(self, max_items: int = 32) -> None:
        self._max_items = max_items
        self._done: OrderedDict[str, bytes] = OrderedDict()
        self._in_flight: dict[str, anyio.Event] = {}

    async def get(self, key: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
        # Bounded: each pass either returns, builds, or waits for a build that ends (in success or failure).
        for _ in range(100):
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            waiting = self._in_flight.get(key)
            if waiting is not None:
                await waiting.wait()
                continue
            event = self._in_flight[key] = anyio.Event()
            try:
                data = await build()
            finally:
                del self._in_flight[key]
                event.set()
            self._done[key] = data
            while len(self._done) > self._max_items:
                self._done.popitem(last=False)
            return data
        raise RuntimeError(f"rendering {key} kept failing")
