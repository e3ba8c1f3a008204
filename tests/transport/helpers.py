"""Our HTTP server in the test's own event loop (uvicorn on a loopback socket), and MCP clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runapi_mcp.server import build_server
from runapi_mcp.server.http import running_http
from runapi_mcp.settings import Settings
from tests.server.helpers import make_settings

# What a 2025-era client sends first; raw requests in these tests start sessions with it.
INITIALIZE = {
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


def http_settings(tmp_path: Path, base_url: str, **env: str) -> Settings:
    return make_settings(tmp_path, base_url, **env).model_copy(update={"transport": "http"})


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The server as `runapi-mcp --transport http` builds it; yields the base URL (no /mcp)."""
    async with running_http(build_server(settings), settings) as url:
        yield url


@asynccontextmanager
async def mcp_client(base_url: str, headers: dict[str, str] | None = None, *, legacy: bool = False) -> AsyncIterator[
    Client
]:
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
