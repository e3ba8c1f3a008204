"""A real server on a real sandbox, opened by clients that do or do not declare MCP Apps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from runapi_mcp.settings import Settings
from tests.server.helpers import make_settings

Connect = Callable[..., AbstractAsyncContextManager[Client]]


def apps_extension():  # type: ignore[no-untyped-def]
    return advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.05, balance_cents=10_000)) as sb:
        yield sb


@pytest.fixture
def settings(tmp_path: Path, sandbox: RunningSandbox) -> Settings:
    return make_settings(tmp_path, sandbox.url)


@pytest.fixture
def connect(settings: Settings) -> Connect:
    """connect(apps=True|False): a client on a fresh server sharing one sandbox, journal and project folder."""

    @asynccontextmanager
    async def factory(*, apps: bool) -> AsyncIterator[Client]:
        async with Client(build_server(settings), extensions=[apps_extension()] if apps else None) as client:
            yield client

    return factory
