"""An MCP server wired to a real sandbox over loopback HTTP, driven through an in-memory MCP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from tests.server.helpers import ClientFactory, make_settings


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.05, balance_cents=10_000)) as sb:
        yield sb


@pytest.fixture
def connect(tmp_path: Path, sandbox: RunningSandbox) -> ClientFactory:
    """Open an MCP client on a fresh server; keyword arguments become environment settings."""

    @asynccontextmanager
    async def factory(**env: str) -> AsyncIterator[Client]:
        settings = make_settings(tmp_path, sandbox.url, **env)
        async with Client(build_server(settings)) as client:
            yield client

    return factory
