"""Faults on demand, each seen by an httpx2 client as the failure it stands for."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx2
import pytest

from runapi_mcp.sandbox import SandboxConfig, create_app, running_sandbox
from runapi_mcp.sandbox.middleware import ConnectionDropped
from tests.sandbox.helpers import AUTH, FAST, T2I, advance, assert_error, client_for, create, ledger, wait_done

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_429_carries_retry_after_in_seconds() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        response = await create(client, fault="429;retry_after=2")
        assert_error(response, 429, "rate_limited")
        assert response.headers["retry-after"] == "2"
        default = await client.get("/api/v1/me", headers={"X-Sandbox-Fault": "429"})
        assert default.headers["retry-after"] == "1"
        assert (await ledger(client))["totals"]["tasks"] == 0


async def test_429_carries_retry_after_as_an_http_date_in_the_future() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        response = await create(client, fault="429;retry_after_date=3")
        assert_error(response, 429)
        moment = parsedate_to_datetime(response.headers["retry-after"])
        assert 2 <= moment.timestamp() - time.time() <= 4.5


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_answer_runapi_style_and_create_nothing(status: int) -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        assert_error(await create(client, fault=str(status)), status)
        with_hint = await create(client, fault=f"{status};retry_after=5")
        assert with_hint.headers["retry-after"] == "5"
        assert (await ledger(client))["totals"]["tasks"] == 0


async def test_drop_closes_the_connection_without_a_response() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            await create(client, fault="drop")
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.get("/api/v1/me", headers={"X-Sandbox-Fault": "drop"})
        assert (await ledger(client))["totals"]["tasks"] == 0
        assert (await client.get("/api/v1/me")).status_code == 200  # the server itself is fine


async def test_reset_resets_the_connection() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        with pytest.raises(httpx2.ReadError):
            await create(client, fault="reset")
        assert (await ledger(client))["totals"]["tasks"] == 0


async def test_lost_response_commits_and_charges_the_task_then_drops_the_connection() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            await create(client, fault="lost-response")
        book = await ledger(client)
        assert book["totals"]["tasks"] == 1
        assert book["charges"][0]["type"] == "reservation"


async def test_slow_task_is_still_processing_after_the_normal_latency() -> None:
    async with running_sandbox(SandboxConfig(latency=1)) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client, fault="slow;seconds=100")).json()["id"]
        await advance(client, 50)
        assert (await client.get(f"{T2I}/{task_id}")).json()["status"] == "processing"
        await advance(client, 51)
        assert (await client.get(f"{T2I}/{task_id}")).json()["status"] == "completed"


async def test_scripted_fault_queue_hits_only_matching_requests_in_order() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        queued = await client.post(
            "/_sandbox/faults",
            json={
                "faults": [
                    {"method": "POST", "path": "/api/v1/gpt_image_2/*", "fault": "503"},
                    {"method": "POST", "path": "/api/v1/gpt_image_2/*", "fault": "429;retry_after=0", "count": 2},
                    {"method": "POST", "path": "/api/v1/gpt_image_2/*", "fault": "lost-response"},
                ]
            },
        )
        assert queued.status_code == 200
        assert len(queued.json()["faults"]) == 3
        assert (await client.get("/api/v1/me")).status_code == 200  # does not match: no fault used up

        assert (await create(client, key="scripted")).status_code == 503
        assert (await create(client, key="scripted")).status_code == 429
        assert (await create(client, key="scripted")).status_code == 429
        with pytest.raises(httpx2.RemoteProtocolError):
            await create(client, key="scripted")
        replay = await create(client, key="scripted")
        assert replay.json()["task_replayed"] is True
        assert (await client.get("/_sandbox/faults")).json() == {"faults": []}
        await wait_done(client, replay.json()["id"])
        book = await ledger(client)
        assert book["totals"]["tasks"] == 1
        assert book["totals"]["charged_cents"] == 6


async def test_fault_queue_can_be_listed_and_cleared_and_rejects_bad_scripts_whole() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        await client.post("/_sandbox/faults", json={"fault": "drop", "path": "/api/v1/me"})
        assert (await client.get("/_sandbox/faults")).json()["faults"] == [
            {"fault": "drop", "method": "*", "path": "/api/v1/me", "count": 1}
        ]
        bad = await client.post("/_sandbox/faults", json={"faults": [{"fault": "503"}, {"fault": "explode"}]})
        assert_error(bad, 422, "invalid_fault")
        assert len((await client.get("/_sandbox/faults")).json()["faults"]) == 1
        assert (await client.delete("/_sandbox/faults")).json() == {"faults": []}
        assert (await client.get("/api/v1/me")).status_code == 200


@pytest.mark.parametrize("spec", ["explode", "429;wait=3", "700", "slow;seconds=-1", "429;retry_after=soon"])
async def test_malformed_fault_header_is_a_400(spec: str) -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        assert_error(await create(client, fault=spec), 400, "invalid_fault")


async def outcomes(config: SandboxConfig, count: int) -> list[str]:
    seen: list[str] = []
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        for _ in range(count):
            try:
                seen.append(str((await client.get("/api/v1/me")).status_code))
            except httpx2.RemoteProtocolError:
                seen.append("drop")
    return seen


async def test_configured_fault_rates_are_reproducible_with_a_seed() -> None:
    config = SandboxConfig(seed=7, rate_limit_rate=0.3, server_error_rate=0.2, drop_rate=0.1)
    first = await outcomes(config, 40)
    assert first == await outcomes(config, 40)
    assert {"200", "429", "drop"} <= set(first)
    assert set(first) <= {"200", "429", "500", "502", "503", "drop"}


async def test_configured_failed_and_slow_task_rates_shape_new_tasks() -> None:
    config = SandboxConfig(latency=0.05, fail_task_rate=1.0)
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        done = await wait_done(client, (await create(client)).json()["id"])
        assert done["status"] == "failed" and done["error"]
    config = SandboxConfig(latency=0.05, slow_task_rate=1.0, slow_task_latency=100)
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client)).json()["id"]
        await advance(client, 50)
        assert (await client.get(f"{T2I}/{task_id}")).json()["status"] == "processing"


async def test_control_endpoints_are_never_faulted() -> None:
    config = SandboxConfig(seed=1, server_error_rate=1.0)
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        assert (await client.get("/api/v1/me")).status_code in (500, 502, 503)
        assert (await client.get("/_sandbox/ledger", headers={"X-Sandbox-Fault": "drop"})).status_code == 200


async def test_without_a_server_to_close_the_socket_a_drop_raises_in_the_app() -> None:
    transport = httpx2.ASGITransport(app=create_app(FAST))
    async with httpx2.AsyncClient(transport=transport, base_url="http://sandbox.test", headers=AUTH) as client:
        assert (await client.get("/api/v1/me")).status_code == 200
        with pytest.raises(ConnectionDropped):
            await client.get("/api/v1/me", headers={"X-Sandbox-Fault": "drop"})
