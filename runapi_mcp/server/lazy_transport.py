"""An HTTP transport built on first use, in a worker thread.

Building httpx2's transport creates a TLS context (loading the CA bundle: 20-50 ms). A host starts the
server for every session and waits for its first answer; no request needs TLS before the first tool
call, so that cost is moved there, and off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx2


class LazyTransport(httpx2.AsyncBaseTransport):
    def __init__(self, build: Callable[[], httpx2.AsyncBaseTransport]) -> None:
        self._build = build
        self._transport: httpx2.AsyncBaseTransport | None = None
        self._lock = anyio.Lock()

    async def _get(self) -> httpx2.AsyncBaseTransport:
        if self._transport is None:
            async with self._lock:
                if self._transport is None:
                    self._transport = await anyio.to_thread.run_sync(self._build)
        return self._transport

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await (await self._get()).handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
