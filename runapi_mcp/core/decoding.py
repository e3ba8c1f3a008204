"""How many pixels this process decodes at once, so previews of huge results never sit decoded side by side.

A decoded image costs about four bytes a pixel whatever its file size (a 9000x9000 PNG of one colour is a
250 KB file and 324 MB decoded), so the budget counts pixels. A decode reserves its pixel count and waits
until the pixels in use leave room for it: a count=4 batch of 1k results decodes four at a time, one of 8k
results one at a time. One budget per process (threads, not event loops: previews decode in worker
threads, and a process may run several loops).
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from contextlib import contextmanager

# 32 Mpx (8192x4096): GPT Image 2's largest results (4K) fit four times over; decoded, about 128 MB.
DECODE_BUDGET_PIXELS = 32 * 1024 * 1024


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


DECODES = DecodeBudget()
