"""Sign-in from inside a host against the real server process, over stdio and over loopback HTTP: the
loopback listener runs in the server, the scripted browser approves, and the next call uses the new key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitRequestURLParams, ElicitResult

from runapi_mcp.sandbox import SandboxConfig, SandboxThread
from tests.integration.helpers import http_server, stdio_params
from tests.login.browser import visit
from tests.server.helpers import text_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(latency=0.05)) as sb:
        yield sb


@asynccontextmanager
async def _client(
    transport: str, tmp_path: Path, sandbox: SandboxThread, logs: list[bytes], **kwargs: Any
) -> AsyncIterator[Client]:
    """`logs` receives the HTTP server's stderr once it has stopped."""
    if transport == "stdio":
        async with Client(stdio_params(tmp_path, sandbox.url, RUNAPI_API_KEY=""), **kwargs) as client:
            yield client
        return
    server = http_server(tmp_path, sandbox.url, RUNAPI_API_KEY="", RUNAPI_MCP_LOG_LEVEL="DEBUG")
    with server as (url, process):
        async with Client(url, **kwargs) as client:
            yield client
    assert process.stderr is not None
    logs.append(process.stderr.read())


@pytest.mark.parametrize(("transport", "mode"), [("stdio", "legacy"), ("stdio", "auto"), ("http", "auto")])
async def test_the_real_server_signs_in_through_the_browser_and_uses_the_key_on_the_next_call(
    tmp_path: Path, sandbox: SandboxThread, transport: str, mode: str
) -> None:
    asked: list[str] = []
    logs: list[bytes] = []

    async with anyio.create_task_group() as group:

        async def elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
            assert isinstance(params, ElicitRequestURLParams)
            asked.append(params.url)
            group.start_soon(anyio.to_thread.run_sync, visit, params.url)
            return ElicitResult(action="accept")

        async with _client(transport, tmp_path, sandbox, logs, mode=mode, elicitation_callback=elicit) as client:
            first = await client.call_tool("get_balance", {})
            config = tmp_path / "home" / ".config" / "runapi" / "config.json"
            for _ in range(500):
                if config.exists() and "api_key" in json.loads(config.read_text()):
                    break
                await anyio.sleep(0.02)
            second = await client.call_tool("get_balance", {})

    assert len(asked) == 1 and asked[0].startswith(f"{sandbox.url}/cli/authorize?")
    assert first.is_error and text_of(first).startswith("Not done yet: the user is signing in")
    assert not second.is_error and text_of(second).startswith("Balance $10.00"), text_of(second)
    key = json.loads(config.read_text())["api_key"]
    assert key not in text_of(first) + text_of(second)
    if transport == "http":
        assert b"Signed in to RunAPI as sandbox@runapi-mcp.invalid" in logs[0]  # the server's own log line
        assert key.encode() not in logs[0]
