"""Idempotency and money: replays, conflicts, 402, refunds, and a ledger that never charges twice."""

from __future__ import annotations

import httpx2
import pytest

from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from tests.sandbox.helpers import BODY, FAST, T2I, advance, assert_error, client_for, create, ledger, wait_done

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_same_key_and_body_replays_the_task_and_charges_once() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        first = await create(client, key="key-1")
        second = await create(client, key="key-1")
        assert first.status_code == second.status_code == 200
        assert second.json()["id"] == first.json()["id"]
        assert second.json()["task_replayed"] is True
        assert "task_replayed" not in first.json()
        assert second.headers["x-runapi-task-id"] == first.json()["id"]
        await wait_done(client, first.json()["id"])
        third = await create(client, key="key-1")
        assert third.json() == {"id": first.json()["id"], "status": "completed", "task_replayed": True}

        book = await ledger(client)
        assert book["totals"]["tasks"] == 1
        assert book["totals"]["charged_cents"] == 6
        assert book["tasks"][0]["charges"] == 1
        assert book["idempotency_keys"]["key-1"] == {
            "task_id": first.json()["id"],
            "requests": 3,
            "replays": 2,
            "conflicts": 0,
            "tasks_created": 1,
        }
        assert [c["type"] for c in book["charges"]] == ["reservation", "settlement"]


async def test_same_key_with_a_different_body_is_a_409_that_names_the_existing_task() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        first = await create(client, key="key-2")
        conflict = await create(client, {**BODY, "prompt": "something else"}, key="key-2")
        assert_error(conflict, 409, "idempotency_key_reused")
        assert conflict.headers["x-runapi-task-id"] == first.json()["id"]
        other_action = await client.post(
            "/api/v1/gpt_image_2/edit_image",
            json={**BODY, "source_image_urls": ["https://example.com/a.png"]},
            headers={"Idempotency-Key": "key-2"},
        )
        assert_error(other_action, 409)
        book = await ledger(client)
        assert book["totals"]["tasks"] == 1
        assert book["idempotency_keys"]["key-2"]["conflicts"] == 2


async def test_402_once_the_balance_cannot_cover_the_list_price() -> None:
    async with running_sandbox(SandboxConfig(latency=0.05, balance_cents=20)) as sandbox, client_for(sandbox) as client:
        assert (await create(client, {**BODY, "output_resolution": "4k"})).status_code == 200  # 16 of 20
        refused = await create(client, {**BODY, "output_resolution": "1k"}, key="too-poor")
        assert_error(refused, 402, "insufficient_credits")
        balance = (await client.get("/api/v1/me/balance")).json()
        assert balance["balance_cents"] == 4
        book = await ledger(client)
        assert book["totals"]["tasks"] == 1
        assert "too-poor" not in book["idempotency_keys"]  # a refused create does not burn its key

        assert (await client.post("/_sandbox/balance", json={"balance_cents": 100})).status_code == 200
        assert (await create(client, key="too-poor")).status_code == 200


async def test_failed_task_is_refunded_and_never_charged() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client, fault="fail-task;message=content%20policy")).json()["id"]
        done = await wait_done(client, task_id)
        assert done["status"] == "failed"
        assert done["error"] == "content policy"
        assert "images" not in done
        assert done["usage"] == {"cost": 0.0, "generated_images": 0}
        assert done["billing"]["settlement"] is None
        assert done["billing"]["refund"] == {"amount_cents": 6, "reason": "task_failed"}
        book = await ledger(client)
        assert book["totals"]["charged_cents"] == 0
        assert book["totals"]["refunded_cents"] == 6
        assert book["totals"]["balance_cents"] == 1000
        assert book["tasks"][0]["charges"] == 0
        balance = (await client.get("/api/v1/me/balance")).json()
        assert balance["balance_cents"] == 1000 and balance["spent_cents_total"] == 0


async def test_lost_create_response_then_retry_with_the_same_key_gives_one_task_charged_once() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            await create(client, key="lost-1", fault="lost-response")
        book = await ledger(client)
        assert book["totals"]["tasks"] == 1  # committed although the client never heard
        lost_id = book["tasks"][0]["id"]

        retry = await create(client, key="lost-1")
        assert retry.status_code == 200
        assert retry.json()["id"] == lost_id
        assert retry.json()["task_replayed"] is True
        await wait_done(client, lost_id)

        book = await ledger(client)
        assert book["totals"]["tasks"] == 1
        assert book["totals"]["charged_cents"] == 6
        assert [c["type"] for c in book["charges"]] == ["reservation", "settlement"]
        assert book["idempotency_keys"]["lost-1"]["requests"] == 2


async def test_balance_reports_reservations_and_spend() -> None:
    async with running_sandbox(SandboxConfig(latency=60)) as sandbox, client_for(sandbox) as client:
        await create(client, {**BODY, "output_resolution": "2k"})
        during = (await client.get("/api/v1/me/balance")).json()
        assert during == {
            "balance_cents": 990,
            "paid_balance_cents": 990,
            "bonus_balance_cents": 0,
            "spent_cents_today": 0,
            "spent_cents_total": 0,
            "sandbox": True,  # marks the sandbox's play money; not in RunAPI's answer
        }
        await advance(client, 61)
        after = (await client.get("/api/v1/me/balance")).json()
        assert after["balance_cents"] == 990
        assert after["spent_cents_total"] == 10
        book = await ledger(client)
        assert book["totals"]["outstanding_cents"] == 0
        assert book["totals"]["completed"] == 1


async def test_create_without_idempotency_key_makes_a_new_task_each_time() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        ids = {(await create(client)).json()["id"] for _ in range(3)}
        assert len(ids) == 3
        response = await client.get(f"{T2I}/{ids.pop()}")
        assert response.status_code == 200
        assert (await ledger(client))["totals"]["reserved_cents"] == 18
