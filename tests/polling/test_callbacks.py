"""Callbacks in HTTP mode (issue 13 item 1), end to end: the sandbox delivers to the server's real endpoint.

The server's safety-net reads run every 2 s (5 x the 0.4 s schedule); sandbox tasks take 1 s, so a call
that returns at about 1 s with one status read was woken by the callback, and one that returns at about
2 s was found by the safety net.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client

from runapi_mcp.core.callbacks import new_token
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from runapi_mcp.server.callbacks import MAX_CALLBACK_BYTES
from runapi_mcp.server.http import running_http
from tests.polling.conftest import CREATE, script_faults, task_of
from tests.server.helpers import make_settings, text_of
from tests.support.mcp_http import mcp_client

pytestmark = pytest.mark.anyio

TASK_SECONDS = 1.0
SAFETY_NET = 2.0


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=TASK_SECONDS, balance_cents=10_000)) as sb:
        yield sb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def hosted(
    tmp_path: Path, sandbox: RunningSandbox, headers: dict[str, str] | None = None, **env: str
) -> AsyncIterator[tuple[str, Client]]:
    port = free_port()
    values = {
        "RUNAPI_MCP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.4",
        "RUNAPI_MCP_POLL_MAX_SECONDS": "0.4",
        **env,
    }
    settings = make_settings(tmp_path, sandbox.url, **values).model_copy(update={"transport": "http"})
    async with running_http(build_server(settings), settings, port=port) as url, mcp_client(url, headers) as client:
        yield url, client


def deliveries(sandbox: RunningSandbox) -> list[str]:
    return [entry["outcome"] for entry in sandbox.state.callbacks.log]


async def test_a_callback_wakes_the_waiting_call_which_confirms_with_one_status_read(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    async with hosted(tmp_path, sandbox) as (_, client):
        started = time.monotonic()
        result = await client.call_tool("generate_image", {"prompt": "called back"})
        elapsed = time.monotonic() - started
    task = task_of(result)
    assert task["status"] == "completed" and task["images"][0]["path"], text_of(result)
    assert sandbox.state.requests["status"] == 1, sandbox.state.requests
    assert elapsed < SAFETY_NET, elapsed
    assert deliveries(sandbox) == ["answered 204"]


async def test_a_lost_callback_falls_back_to_the_safety_net(tmp_path: Path, sandbox: RunningSandbox) -> None:
    await script_faults(sandbox, {"fault": "callback-lost", "method": "POST", "path": CREATE, "count": 1})
    async with hosted(tmp_path, sandbox) as (_, client):
        started = time.monotonic()
        result = await client.call_tool("generate_image", {"prompt": "never called back"})
        elapsed = time.monotonic() - started
    assert task_of(result)["status"] == "completed", text_of(result)
    assert elapsed >= SAFETY_NET * 0.9, elapsed
    assert sandbox.state.requests["status"] == 1


async def test_a_late_callback_after_the_result_changes_nothing(tmp_path: Path, sandbox: RunningSandbox) -> None:
    await script_faults(sandbox, {"fault": "callback-late;seconds=1.5", "method": "POST", "path": CREATE, "count": 1})
    async with hosted(tmp_path, sandbox) as (_, client):
        result = await client.call_tool("generate_image", {"prompt": "called back late"})
        reads = sandbox.state.requests["status"]
        for _ in range(40):
            if deliveries(sandbox):
                break
            await anyio.sleep(0.1)
        again = await client.call_tool("get_task", {"task_id": task_of(result)["task_id"]})
    assert task_of(result)["status"] == "completed"
    assert deliveries(sandbox) == ["answered 204"]
    assert sandbox.state.requests["status"] == reads  # the late wake-up read nothing
    assert task_of(again)["images"][0]["path"] == task_of(result)["images"][0]["path"]


async def test_a_duplicated_callback_changes_nothing(tmp_path: Path, sandbox: RunningSandbox) -> None:
    await script_faults(sandbox, {"fault": "callback-duplicate", "method": "POST", "path": CREATE, "count": 1})
    async with hosted(tmp_path, sandbox) as (_, client):
        result = await client.call_tool("generate_image", {"prompt": "called back twice"})
        await anyio.sleep(0.3)
        history = text_of(await client.call_tool("list_tasks", {}))
    assert task_of(result)["status"] == "completed"
    assert deliveries(sandbox) == ["answered 204", "answered 204"]
    assert sandbox.state.requests["status"] == 1
    assert (
        sandbox.ledger()["totals"]["tasks"] == 1
        and sum(task_of(result)["task_id"] in line for line in history.splitlines()) == 1
    )


async def test_a_forged_callback_claiming_completion_costs_one_read_and_its_body_is_never_used(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "callback-forged", "method": "POST", "path": CREATE, "count": 1})
    async with hosted(tmp_path, sandbox) as (_, client):
        result = await client.call_tool("generate_image", {"prompt": "forged news"})
    task = task_of(result)
    assert task["status"] == "completed" and "/files/forged/" not in task["images"][0]["url"], text_of(result)
    # One read to check the forged wake-up (still running), one to confirm the genuine callback.
    assert sandbox.state.requests["status"] == 2, sandbox.state.requests


async def test_a_callback_with_no_call_waiting_makes_the_next_get_task_read_at_once(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    async with hosted(tmp_path, sandbox) as (_, client):
        made = await client.call_tool("generate_image", {"prompt": "fire and forget", "wait": False})
        for _ in range(40):
            if deliveries(sandbox):
                break
            await anyio.sleep(0.1)
        started = time.monotonic()
        done = await client.call_tool("get_task", {"task_id": task_of(made)["task_id"], "wait": True})
        elapsed = time.monotonic() - started
    assert task_of(done)["status"] == "completed", text_of(done)
    assert elapsed < 1.0 and sandbox.state.requests["status"] == 1, (elapsed, sandbox.state.requests)


async def test_unknown_malformed_and_oversized_callbacks_are_refused_and_change_nothing(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    # Token auth on /mcp: the callback path still needs no bearer, since its token is the capability.
    token = {"RUNAPI_MCP_HTTP_AUTH": "token", "RUNAPI_MCP_HTTP_TOKEN": "t" * 32}
    bearer = {"Authorization": f"Bearer {'t' * 32}"}
    async with hosted(tmp_path, sandbox, bearer, **token) as (url, _), httpx2.AsyncClient() as http:
        unknown = await http.post(f"{url}/callbacks/{new_token()}", json={"status": "completed"})
        short = await http.post(f"{url}/callbacks/abc", json={"status": "completed"})
        big = await http.post(f"{url}/callbacks/{new_token()}", content=b"x" * (MAX_CALLBACK_BYTES + 1))
        read = await http.get(f"{url}/callbacks/{new_token()}")
    assert unknown.status_code == 404 and short.status_code == 404
    assert big.status_code == 413 and read.status_code == 405
    assert sandbox.state.requests["status"] == 0
