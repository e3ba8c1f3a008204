"""A server on a real sandbox, driven through an in-memory MCP client, with faults scripted per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from tests.server.helpers import ClientFactory, make_settings

CREATE = "/api/v1/gpt_image_2/text_to_image"
STATUS = "/api/v1/gpt_image_2/text_to_image/*"


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.3, balance_cents=10_000)) as sb:
        yield sb


@pytest.fixture
def connect(tmp_path: Path, sandbox: RunningSandbox) -> ClientFactory:
    @asynccontextmanager
    async def factory(**env: str) -> AsyncIterator[Client]:
        settings = make_settings(tmp_path, sandbox.url, **env)
        async with Client(build_server(settings)) as client:
            yield client

    return factory


async def script_faults(sandbox: RunningSandbox, *faults: dict[str, Any]) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(f"{sandbox.url}/_sandbox/faults", json={"faults": list(faults)})
        response.raise_for_status()


def task_of(result: Any) -> dict[str, Any]:
    return result.structured_content["tasks"][0]
