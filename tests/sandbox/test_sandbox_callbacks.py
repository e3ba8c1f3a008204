"""Callbacks: signed POSTs of the final status to `callback_url`, retried with backoff, loopback only, and
late, duplicated, lost and forged ones on demand."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import anyio
import pytest

from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from runapi_mcp.sandbox.signing import sign, verify_signature
from tests.sandbox.helpers import BODY, T2I, advance, client_for, create
from tests.sandbox.receiver import running_receiver

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

QUICK = SandboxConfig(latency=0.05, callback_backoff=0.05, callback_backoff_max=0.2, callback_secret="whsec_test")


def with_callback(url: str, **extra: Any) -> dict[str, Any]:
    return {**BODY, "callback_url": url, **extra}


async def callback_log(client: Any) -> list[dict[str, Any]]:
    return (await client.get("/_sandbox/callbacks")).json()["deliveries"]


async def test_a_finished_task_posts_its_signed_final_status_once() -> None:
    async with running_receiver() as receiver, running_sandbox(QUICK) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client, with_callback(receiver.url))).json()["id"]
        (delivery,) = await receiver.wait_for(1)  # no status read needed: the background loop finishes the task
        body = json.loads(delivery.body)
        assert body["id"] == task_id and body["status"] == "completed"
        assert body["images"][0]["url"].startswith(sandbox.url + "/files/")
        assert body == (await client.get(f"{T2I}/{task_id}")).json()
        assert delivery.headers["content-type"] == "application/json"
        assert verify_signature("whsec_test", delivery.headers["x-sandbox-signature"], delivery.body)
        assert not verify_signature("whsec_other", delivery.headers["x-sandbox-signature"], delivery.body)
        await anyio.sleep(0.3)
        assert len(receiver.received) == 1
        assert [entry["outcome"] for entry in await callback_log(client)] == ["answered 200"]


async def test_a_failed_task_posts_failed_with_its_error() -> None:
    async with running_receiver() as receiver, running_sandbox(QUICK) as sandbox, client_for(sandbox) as client:
        await create(client, with_callback(receiver.url), fault="fail-task;message=nope")
        (delivery,) = await receiver.wait_for(1)
        assert json.loads(delivery.body)["status"] == "failed" and json.loads(delivery.body)["error"] == "nope"


async def test_non_2xx_answers_are_retried_with_growing_backoff_then_stop() -> None:
    config = SandboxConfig(latency=0.02, callback_backoff=0.3, callback_backoff_max=5)
    async with (
        running_receiver([500, 503]) as receiver,
        running_sandbox(config) as sandbox,
        client_for(sandbox) as client,
    ):
        await create(client, with_callback(receiver.url))
        deliveries = await receiver.wait_for(3)
        gaps = [b.at - a.at for a, b in itertools.pairwise(deliveries)]
        assert gaps[0] >= 0.3 and gaps[1] >= 0.6  # never early: 0.3 s, then doubled
        assert len({d.headers["x-sandbox-delivery"] for d in deliveries}) == 1
        outcomes = [entry["outcome"] for entry in await callback_log(client)]
        assert outcomes == ["answered 500", "answered 503", "answered 200"]
    async with (
        running_receiver([500] * 10) as receiver,
        running_sandbox(
            SandboxConfig(latency=0.02, callback_backoff=0.02, callback_backoff_max=0.05, callback_attempts=3)
        ) as sandbox,
        client_for(sandbox) as client,
    ):
        await create(client, with_callback(receiver.url))
        await receiver.wait_for(3)
        await anyio.sleep(0.4)
        assert len(receiver.received) == 3
        assert (await callback_log(client))[-1]["outcome"] == "gave up"


async def test_no_answer_is_retried() -> None:
    async with running_receiver() as receiver:
        dead_url = receiver.url  # nothing listens here once the receiver has stopped
    config = SandboxConfig(latency=0.02, callback_backoff=0.02, callback_attempts=2)
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        await create(client, with_callback(dead_url))
        log: list[dict[str, Any]] = []
        for _ in range(500):
            log = await callback_log(client)
            if len(log) >= 3:
                break
            await anyio.sleep(0.02)
        assert [entry["outcome"] for entry in log] == ["no answer (ConnectError)"] * 2 + ["gave up"]


async def test_only_loopback_addresses_unless_allowed() -> None:
    async with running_receiver() as receiver:
        # 0.0.0.0 is not a loopback address, though connecting to it reaches this machine.
        wildcard = receiver.url.replace("127.0.0.1", "0.0.0.0")
        async with running_sandbox(QUICK) as sandbox, client_for(sandbox) as client:
            created = await create(client, with_callback(wildcard))
            assert created.status_code == 200  # RunAPI accepts the create; the sandbox just won't call out
            await anyio.sleep(0.3)
            assert receiver.received == []
            assert (await callback_log(client))[0]["outcome"].startswith("refused: not a loopback address")
        allowed = SandboxConfig(latency=0.05, callback_any_host=True)
        async with running_sandbox(allowed) as sandbox, client_for(sandbox) as client:
            await create(client, with_callback(wildcard))
            await receiver.wait_for(1)


async def test_late_callback_arrives_the_configured_time_after_the_task_finished() -> None:
    config = SandboxConfig(latency=0.05, callback_late_delay=600)
    async with running_receiver() as receiver, running_sandbox(config) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client, with_callback(receiver.url), fault="callback-late")).json()["id"]
        await anyio.sleep(0.3)
        assert (await client.get(f"{T2I}/{task_id}")).json()["status"] == "completed"
        assert receiver.received == []
        await advance(client, 601)
        (delivery,) = await receiver.wait_for(1)
        assert json.loads(delivery.body)["status"] == "completed"


async def test_duplicated_callback_is_the_same_delivery_twice() -> None:
    async with running_receiver() as receiver, running_sandbox(QUICK) as sandbox, client_for(sandbox) as client:
        await create(client, with_callback(receiver.url), fault="callback-duplicate")
        first, second = await receiver.wait_for(2)
        assert first.body == second.body
        assert first.headers["x-sandbox-delivery"] == second.headers["x-sandbox-delivery"]
        assert verify_signature("whsec_test", second.headers["x-sandbox-signature"], second.body)


async def test_lost_callback_is_never_sent_and_says_so() -> None:
    async with running_receiver() as receiver, running_sandbox(QUICK) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client, with_callback(receiver.url), fault="callback-lost")).json()["id"]
        await anyio.sleep(0.4)
        assert (await client.get(f"{T2I}/{task_id}")).json()["status"] == "completed"
        assert receiver.received == []
        assert "lost" in (await callback_log(client))[0]["outcome"]


async def test_forged_callback_comes_early_claims_completion_and_fails_verification() -> None:
    config = SandboxConfig(latency=600, callback_secret="whsec_test")
    async with running_receiver() as receiver, running_sandbox(config) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client, with_callback(receiver.url), fault="callback-forged")).json()["id"]
        await advance(client, 300)
        (forged,) = await receiver.wait_for(1)
        assert json.loads(forged.body)["status"] == "completed" and json.loads(forged.body)["id"] == task_id
        assert not verify_signature("whsec_test", forged.headers["x-sandbox-signature"], forged.body)
        assert (await client.get(f"{T2I}/{task_id}")).json()["status"] == "processing"  # it changed nothing
        await advance(client, 301)
        genuine = (await receiver.wait_for(2))[1]
        assert verify_signature("whsec_test", genuine.headers["x-sandbox-signature"], genuine.body)


async def test_callback_fault_rates_come_from_the_seeded_dice() -> None:
    config = SandboxConfig(latency=0.02, seed=5, callback_lost_rate=0.5)
    lost: list[list[bool]] = []
    for _ in range(2):
        async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
            ids = [
                (await create(client, with_callback("http://127.0.0.1:9/x", prompt=f"p{i}"))).json()["id"]
                for i in range(10)
            ]
            lost.append(["callback-lost" in sandbox.state.tasks[task_id].callback_faults for task_id in ids])
    assert lost[0] == lost[1] and any(lost[0]) and not all(lost[0])


async def test_shutdown_stops_deliveries_in_flight_promptly() -> None:
    async with running_receiver(hang=30) as receiver:
        started = time.monotonic()
        async with running_sandbox(QUICK) as sandbox, client_for(sandbox) as client:
            await create(client, with_callback(receiver.url))
            await receiver.wait_for(1)
        assert time.monotonic() - started < 10


def test_verifier_rejects_tampering_old_timestamps_and_malformed_headers() -> None:
    body = b'{"id":"1","status":"completed"}'
    header = sign("s3cret", body)
    assert verify_signature("s3cret", header, body)
    assert not verify_signature("s3cret", header, body + b" ")
    assert not verify_signature("s3cret", sign("s3cret", body, int(time.time()) - 3600), body)
    assert verify_signature("s3cret", sign("s3cret", body, 1000), body, now=1100)
    for bad in (None, "", "v1=abc", "t=x,v1=abc", "t=1,t=2,v1=abc", header.replace("v1=", "v0=")):
        assert not verify_signature("s3cret", bad, body)
