"""An MCP server wired to a real sandbox over loopback HTTP, driven through an in-memory MCP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from mcp import Client
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from runapi_mcp.settings import Settings

TEST_KEY = "sk-test-4b1d5e9a0c7f"


def make_settings(tmp_path: Path, base_url: str, **env: str) -> Settings:
    values = {
        "HOME": str(tmp_path / "home"),
        "RUNAPI_BASE_URL": base_url,
        "RUNAPI_API_KEY": TEST_KEY,
        "RUNAPI_MCP_STATE_DIR": str(tmp_path / "state"),
        "RUNAPI_MCP_WAIT_SECONDS": "10",
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.01",
        "RUNAPI_MCP_POLL_MAX_SECONDS": "0.05",
        "RUNAPI_MCP_MAX_RETRIES": "2",
    }
    values.update(env)
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return Settings.load(env={k: v for k, v in values.items() if v != ""}, working_dir=project)


ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]


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


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)
