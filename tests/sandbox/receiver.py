"""A real callback receiver on loopback: records every POST and answers from a script of statuses."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runapi_mcp.serving import EmbeddedServer, base_url, listen_socket, serving


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list[int])
    """Answers for the first requests, in order; 200 after them."""
    hang: float = 0.0
    """Seconds to wait before answering (to test shutdown with a delivery in flight)."""
    received: list[Received] = field(default_factory=list[Received])
    arrived: anyio.Event = field(default_factory=anyio.Event)

    async def handle(self, request: Request) -> Response:
        self.received.append(Received(await request.body(), dict(request.headers), time.monotonic()))
        self.arrived.set()
        self.arrived = anyio.Event()
        if self.hang:
            await anyio.sleep(self.hang)
        status = self.statuses.pop(0) if self.statuses else 200
        return Response(status_code=status)

    async def wait_for(self, count: int, limit: float = 10.0) -> list[Received]:
        with anyio.fail_after(limit):
            while len(self.received) < count:
                await self.arrived.wait()
        return self.received


@asynccontextmanager
async def running_receiver(statuses: list[int] | None = None, hang: float = 0.0) -> AsyncGenerator[Receiver]:
    receiver = Receiver(statuses=list(statuses or []), hang=hang)
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    sock = listen_socket("127.0.0.1", 0)
    server = EmbeddedServer(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    async with serving(server, sock, "callback receiver"):
        receiver.url = base_url(sock, "127.0.0.1") + "/hook"
        yield receiver
