"""Pieces the bench's helper processes share: a loopback socket, and stopping when stdin closes.

Kept free of heavy imports: the HTTP server's peak RSS is one of the figures.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading

import uvicorn
from starlette.types import Send


def listen() -> socket.socket:
    # IPPROTO_TCP so asyncio sets TCP_NODELAY (no Nagle delay on keep-alive responses).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def stop_on_stdin_eof(server: uvicorn.Server, loop: asyncio.AbstractEventLoop) -> None:
    """The parent closes our stdin to stop us; if it dies, the pipe closes all the same."""

    def watch() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


async def serve_and_announce(server: uvicorn.Server, sock: socket.socket, path: str = "") -> None:
    """Serve on `sock`, print `URL <url>` once accepting (the parent waits for that line), until stopped."""
    stop_on_stdin_eof(server, asyncio.get_running_loop())
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(3000):  # up to 30 s
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if server.started:
        print(f"URL http://127.0.0.1:{sock.getsockname()[1]}{path}", flush=True)
    await task


async def send_json(send: Send, data: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": data})
