"""An MCP server wired to a real sandbox over loopback HTTP, driven through the SDK's in-memory client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client

from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.server import build_server
from tests.support.environments import server_settings
from tests.support.in_memory import ClientFactory
from tests.support.sandboxes import sandbox_in_loop


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with sandbox_in_loop() as sb:
        yield sb


@pytest.fixture
def connect(tmp_path: Path, sandbox: RunningSandbox) -> ClientFactory:
    """Open an MCP client on a fresh server; keyword arguments become environment settings."""

    @asynccontextmanager
    async def factory(**env: str) -> AsyncIterator[Client]:
        async with Client(build_server(server_settings(tmp_path, sandbox.url, **env))) as client:
            yield client

    return factory
