"""SIGTERM on a real server process: running calls finish, new ones are refused with a 503, readiness fails."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.deploy.rig import Replica, Sandbox, mcp_session, replica_processes, sandbox_process
from tests.server.helpers import text_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

KEY = "sk-drain-tenant-5d1c"
EVENTUALLY_SECONDS = 20.0
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "drain-test", "version": "1"},
    },
}
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Authorization": f"Bearer {KEY}",
}


@pytest.fixture
def sandbox(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with sandbox_process(tmp_path, latency=getattr(request, "param", 5.0)) as sb:
        yield sb


async def _eventually(check: Callable[[], Any], what: str) -> None:
    for _ in range(int(EVENTUALLY_SECONDS / 0.05)):
        if await check():
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _readiness(http: httpx2.AsyncClient, replica: Replica) -> tuple[int, dict[str, Any]]:
    response = await http.get(f"{replica.url}/readyz")
    return response.status_code, response.json()


async def _tasks_made(http: httpx2.AsyncClient, sandbox: Sandbox) -> int:
    return (await http.get(f"{sandbox.url}/_sandbox/ledger")).json()["totals"]["tasks"]


async def test_sigterm_lets_a_call_mid_wait_finish_while_refusing_new_calls_and_failing_readiness(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    with replica_processes(tmp_path, ["solo"], sandbox.url, RUNAPI_MCP_DRAIN_SECONDS="40") as (replica,):
        async with httpx2.AsyncClient(timeout=10) as http, mcp_session(replica.url, KEY) as session:
            results: list[Any] = []
            await session.client.list_tools()  # as agents do first; the client checks results against it
            async with anyio.create_task_group() as group:

                async def waiting_call() -> None:
                    results.append(await session.client.call_tool("generate_image", {"prompt": "a drained call"}))

                group.start_soon(waiting_call)
                # Mid-wait: RunAPI has the task and the call is still open on the replica.
                await _eventually(lambda: _has_task_and_call(http, sandbox, replica), "a call mid-wait")
                assert (await _readiness(http, replica))[0] == 200
                replica.process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                await _eventually(lambda: _is_draining(http, replica), "readiness to fail")

                status, body = await _readiness(http, replica)
                health = await http.get(f"{replica.url}/healthz")
                refused = await http.post(f"{replica.url}/mcp", json=INITIALIZE, headers=HEADERS)
                assert not results, "the running call must still be waiting when the drain starts"

        exit_code = await anyio.to_thread.run_sync(lambda: replica.process.wait(30))
        stopped_after = time.monotonic() - signalled

    assert (status, body) == (503, {"status": "draining", "calls_in_flight": 1})
    assert health.status_code == 200, "liveness stays up during the drain"
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    message = refused.json()["error"]["message"]
    assert "shutting down" in message and "idempotency_key" in message
    (result,) = results
    assert not result.is_error, text_of(result)
    assert result.structured_content["tasks"][0]["status"] == "completed"
    assert exit_code == 0
    assert stopped_after < 40, "the server stops once its calls are done, not at the end of the budget"
    log = replica.log.read_text()
    assert "draining: taking no new calls" in log and "Traceback" not in log
    # A stateless replica without shared request-state keys says so at start.
    assert "RUNAPI_MCP_STATE_KEYS is not set" in log


async def _has_task_and_call(http: httpx2.AsyncClient, sandbox: Sandbox, replica: Replica) -> bool:
    return await _tasks_made(http, sandbox) == 1 and (await _readiness(http, replica))[1]["calls_in_flight"] == 1


async def _is_draining(http: httpx2.AsyncClient, replica: Replica) -> bool:
    return (await _readiness(http, replica))[0] == 503


@pytest.mark.parametrize("sandbox", [30.0], indirect=True)
async def test_a_drain_whose_budget_runs_out_stops_the_server_with_the_call_still_waiting(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    with replica_processes(tmp_path, ["solo"], sandbox.url, RUNAPI_MCP_DRAIN_SECONDS="1") as (replica,):
        async with httpx2.AsyncClient(timeout=10) as http, mcp_session(replica.url, KEY) as session:
            async with anyio.create_task_group() as group:

                async def waiting_call() -> None:
                    with pytest.raises(Exception):  # noqa: B017 - whichever way the cut stream surfaces
                        await session.client.call_tool("generate_image", {"prompt": "a call cut short"})

                group.start_soon(waiting_call)
                await _eventually(lambda: _has_task_and_call(http, sandbox, replica), "a call mid-wait")
                replica.process.send_signal(signal.SIGTERM)
                exit_code = await anyio.to_thread.run_sync(lambda: replica.process.wait(20))
                group.cancel_scope.cancel()
            ledger = (await http.get(f"{sandbox.url}/_sandbox/ledger")).json()

    assert exit_code == 0
    assert ledger["totals"]["in_progress"] == 1, "the server stopped long before the task could finish"
    assert "drain budget spent; stopping 1 call(s) still running" in replica.log.read_text()
