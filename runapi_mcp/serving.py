"""Serving an ASGI app with uvicorn on a socket bound up front, shared by the HTTP transport and the sandbox.

Binding first makes the real port known at once (port 0 picks a free one) and makes a taken port fail
before anything starts. Embedded servers run inside the caller's asyncio loop and leave its signals alone.

A served process drains on SIGTERM or Ctrl+C (`DrainingServer`): it keeps listening, so a balancer's
readiness check sees it fail and a new call gets a clear refusal instead of a reset connection, while the
calls already running finish (up to the drain budget). A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import asynccontextmanager
from types import FrameType

import anyio
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0
WILDCARD_BINDS = ("0.0.0.0", "::", "")


def listen_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    # proto must say TCP: asyncio only sets TCP_NODELAY on sockets that do, and without it every
    # keep-alive response waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket, host: str) -> str:
    """http://HOST:PORT for a bound socket; a wildcard bind is reached on loopback."""
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in WILDCARD_BINDS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        # The host process owns its signals; an embedded server stops when its context exits.
        yield


@asynccontextmanager
async def serving(server: EmbeddedServer, sock: socket.socket, what: str) -> AsyncGenerator[None]:
    """Run `server` on `sock` in the current asyncio loop until the block exits; closes the socket."""
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(STARTUP_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError(f"the {what} stopped before it started")
                await anyio.sleep(0.005)
        yield
    finally:
        server.should_exit = True
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(SHUTDOWN_TIMEOUT + 1):
                await asyncio.wait({task})
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        sock.close()


class Drain:
    """Calls in flight in this process, and whether it is draining (taking no new ones)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.in_flight = 0
        self._since: float | None = None

    @property
    def draining(self) -> bool:
        return self._since is not None

    def start(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def finished(self) -> bool:
        """True once draining and either every call has ended or the budget is spent."""
        if self._since is None:
            return False
        return self.in_flight == 0 or time.monotonic() - self._since >= self.seconds


class DrainGuard:
    """Refuses the requests `guarded` selects with `refuse` once draining; counts the `counted` ones while they run."""

    def __init__(
        self,
        app: ASGIApp,
        drain: Drain,
        *,
        guarded: Callable[[Scope], bool],
        counted: Callable[[Scope], bool],
        refuse: ASGIApp,
    ) -> None:
        self.app = app
        self.drain = drain
        self.guarded = guarded
        self.counted = counted
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.guarded(scope):
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            await self.refuse(scope, receive, send)
            return
        if not self.counted(scope):
            await self.app(scope, receive, send)
            return
        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= 1


class DrainingServer(uvicorn.Server):
    """uvicorn, but the first SIGTERM/SIGINT drains (see the module docstring) instead of closing at once."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded for uvicorn to re-raise after shutdown: a drained server exits 0.
        if not self.drain.draining and self.drain.seconds > 0:
            self.drain.start()
            log.warning(
                "draining: taking no new calls, waiting up to %gs for %d running; send the signal again to stop now",
                self.drain.seconds,
                self.drain.in_flight,
            )
        elif self.should_exit:
            self.force_exit = True
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if not self.should_exit and self.drain.finished():
            if self.drain.in_flight:
                log.warning("drain budget spent; stopping %d call(s) still running", self.drain.in_flight)
            self.should_exit = True
        return await super().on_tick(counter)
