"""Serving an ASGI app with uvicorn on a socket bound up front, shared by the HTTP transport and the sandbox.

Binding first makes the real port known at once (port 0 picks a free one) and makes a taken port fail
before anything starts. Embedded servers run inside the caller's asyncio loop and leave its signals alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager

import anyio
import uvicorn

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
