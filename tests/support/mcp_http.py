"""Our streamable HTTP server for tests, in process or on a loopback socket, and MCP clients for it.

`in_process_http` drives the very ASGI app `runapi-mcp --transport http` serves through httpx2's ASGI
transport: no socket, no port, for tests of what the app answers to single requests (auth, Host and
Origin checks, size limits, session ownership). `serving` puts the same app on a real loopback socket
(port 0) for tests that hold MCP sessions open over streamable HTTP, whose event streams need one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from runapi_mcp.server import build_server
from runapi_mcp.server.http import build_http_app, running_http
from runapi_mcp.settings import Settings

# What a 2025-era client sends first; raw requests in these tests start sessions with it.
INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "transport-test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
# The address an in-process client pretends to reach: loopback, as a local client would.
IN_PROCESS_URL = "http://127.0.0.1:8000"


def text_of(result: Any) -> str:
    """All text blocks of a tool result, one per line."""
    return "\n".join(getattr(c, "text", "") for c in result.content)


@asynccontextmanager
async def in_process_http(settings: Settings, **server_options: Any) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx2 client wired straight into the server's HTTP app (its lifespan running); base URL set."""
    app = build_http_app(build_server(settings, **server_options), settings)
    routes: Any = app
    while not isinstance(routes, Starlette):  # the guards wrap the Starlette app that holds the lifespan
        routes = routes.app
    async with (
        routes.router.lifespan_context(routes),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=IN_PROCESS_URL, timeout=30) as http,
    ):
        yield http


@asynccontextmanager
async def serving(settings: Settings, **server_options: Any) -> AsyncIterator[str]:
    """The server as `runapi-mcp --transport http` builds it, on a loopback socket; yields the base URL."""
    async with running_http(build_server(settings, **server_options), settings) as url:
        yield url


@asynccontextmanager
async def mcp_client(
    base_url: str, headers: dict[str, str] | None = None, *, legacy: bool = False
) -> AsyncIterator[Client]:
    """A real MCP client over streamable HTTP, sending `headers` on every request."""
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(30, read=120))
        )
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        client = await stack.enter_async_context(
            Client(transport, read_timeout_seconds=60, mode="legacy" if legacy else "auto")
        )
        yield client
