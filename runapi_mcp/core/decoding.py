"""How many pixels this process decodes at once, so previews of huge results never sit decoded side by side.

A decoded image costs about four bytes a pixel whatever its file size (a 9000x9000 PNG of one colour is a
250 KB file and 324 MB decoded), so the budget counts pixels. A decode reserves its pixel count and waits
until the pixels in use leave room for it: a count=4 batch of 1k results decodes four at a time, one of 8k
results one at a time. One budget per process (threads, not event loops: previews decode in worker
threads, and a process may run several loops).

Large decodes (a quarter of the budget or more) also run on one thread of their own: the C allocator keeps
memory a thread freed for that thread's next use, so huge decodes spread over four worker threads would
keep four images' worth resident even one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

# 32 Mpx (8192x4096): GPT Image 2's largest results (4K) fit four times over; decoded, about 128 MB.
DECODE_BUDGET_PIXELS = 32 * 1024 * 1024
LARGE_DECODE_PIXELS = DECODE_BUDGET_PIXELS // 4

T = TypeVar("T")


class DecodeBudget:
    def __init__(self, pixels: int = DECODE_BUDGET_PIXELS) -> None:
        self.pixels = pixels
        self._in_use = 0
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, pixels: int) -> Generator[None]:
        """Hold `pixels` of the budget while decoding. Blocking: call it in a worker thread. A request larger
        than the whole budget is the caller's to refuse first (it would wait for an empty budget, then run)."""
        wanted = min(max(pixels, 0), self.pixels)
        with self._changed:
            self._changed.wait_for(lambda: self._in_use + wanted <= self.pixels)
            self._in_use += wanted
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= wanted
                self._changed.notify_all()

    def run(self, pixels: int, work: Callable[[], T]) -> T:
        """`work()` (a decode of `pixels`) within the budget; a large one on the large-decode thread. Blocking."""
        if pixels >= LARGE_DECODE_PIXELS:
            return _LARGE_DECODES.submit(self._reserved, pixels, work).result()
        return self._reserved(pixels, work)

    def _reserved(self, pixels: int, work: Callable[[], T]) -> T:
        with self.reserve(pixels):
            return work()


_LARGE_DECODES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runapi-large-decode")
DECODES = DecodeBudget()
