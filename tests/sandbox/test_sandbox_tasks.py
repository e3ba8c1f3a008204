"""Task lifecycle, status bodies, outputs and auth, over real loopback HTTP."""

from __future__ import annotations

import pytest

from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from tests.sandbox.helpers import (
    AUTH,
    BODY,
    EDIT,
    FAST,
    T2I,
    advance,
    assert_error,
    client_for,
    create,
    open_png,
    wait_done,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_task_moves_pending_then_processing_then_completed_with_usage_and_settled_billing() -> None:
    async with running_sandbox(SandboxConfig(latency=30)) as sandbox, client_for(sandbox) as client:
        created = await create(client, {**BODY, "output_resolution": "2k"})
        assert created.status_code == 200
        task_id = created.json()["id"]
        assert created.json() == {"id": task_id, "status": "pending"}
        assert created.headers["x-runapi-task-id"] == task_id
        assert created.headers["x-request-id"]

        pending = (await client.get(f"{T2I}/{task_id}")).json()
        assert pending["status"] == "pending"
        assert "images" not in pending and "usage" not in pending
        assert pending["billing"] == {"reservation": {"amount_cents": 10}, "settlement": None, "refund": None}

        await advance(client, 11)
        assert (await client.get(f"{T2I}/{task_id}")).json()["status"] == "processing"

        await advance(client, 20)
        done = (await client.get(f"{T2I}/{task_id}")).json()
        assert done["status"] == "completed"
        assert done["usage"] == {"cost": 0.10, "generated_images": 1}
        assert done["billing"]["settlement"] == {"charged_amount_cents": 10, "amount_micro_cents": 10_000_000}
        assert done["billing"]["refund"] is None
        assert len(done["images"]) == 1
        assert done["images"][0]["url"].startswith(sandbox.url + "/files/")


async def test_pending_status_carries_retry_after_hint_only_when_configured() -> None:
    hinted = SandboxConfig(latency=30, status_retry_after=0.25)
    async with running_sandbox(hinted) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client)).json()["id"]
        status = await client.get(f"{T2I}/{task_id}")
        assert status.headers["retry-after"] == "0.25"
        await advance(client, 31)
        assert "retry-after" not in (await client.get(f"{T2I}/{task_id}")).headers
    async with running_sandbox(SandboxConfig(latency=30)) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client)).json()["id"]
        assert "retry-after" not in (await client.get(f"{T2I}/{task_id}")).headers


async def test_same_task_input_renders_byte_identical_images_and_other_prompts_differ() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        bodies = [BODY, BODY, {**BODY, "prompt": "a lighthouse at dawn"}]
        images: list[bytes] = []
        for body in bodies:
            done = await wait_done(client, (await create(client, body)).json()["id"])
            images.append((await client.get(done["images"][0]["url"])).content)
        assert images[0] == images[1]
        assert images[0] != images[2]


async def test_output_carries_a_visible_red_sandbox_badge_in_the_top_left_corner() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        done = await wait_done(client, (await create(client)).json()["id"])
        image = open_png((await client.get(done["images"][0]["url"])).content)
        corner = image.crop((0, 0, image.width // 4, image.height // 8))
        raw = corner.tobytes()
        pixels = zip(raw[0::3], raw[1::3], raw[2::3], strict=True)
        badge_red = sum(1 for r, g, b in pixels if r > 180 and g < 60 and b < 60)
        assert badge_red > corner.width * corner.height // 10


async def test_status_of_unknown_id_or_other_action_is_404() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        task_id = (await create(client)).json()["id"]
        assert_error(await client.get(f"{T2I}/00000000-0000-0000-0000-000000000000"), 404, "not_found")
        assert_error(await client.get(f"{EDIT}/{task_id}"), 404, "not_found")
        assert_error(await client.get("/api/v1/gpt_image_2/upscale/abc"), 404)
        assert_error(await client.get("/api/v1/nothing"), 404)


async def test_output_url_expires_after_the_configured_ttl_with_a_410() -> None:
    async with running_sandbox(SandboxConfig(latency=0.05, url_ttl=60)) as sandbox, client_for(sandbox) as client:
        done = await wait_done(client, (await create(client)).json()["id"])
        url = done["images"][0]["url"]
        assert (await client.get(url)).status_code == 200
        await advance(client, 61)
        assert_error(await client.get(url), 410, "url_expired")
        assert_error(await client.get(sandbox.url + "/files/nope/x.png"), 404)


async def test_requests_without_a_valid_bearer_key_get_401_but_price_schedules_need_none() -> None:
    config = SandboxConfig(latency=0.05, accepted_keys=frozenset({"sk-good"}))
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        for headers in ({"Authorization": ""}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer sk-bad"}):
            response = await client.post(T2I, json=BODY, headers=headers)
            assert_error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
        for path in ("/api/v1/me", "/api/v1/me/balance"):
            assert_error(await client.get(path), 401)
        assert_error(await client.post("/api/v1/price_quotes", json={}), 401)
        good = await client.post(T2I, json=BODY, headers={"Authorization": "Bearer sk-good"})
        assert good.status_code == 200
        assert (await client.get("/api/v1/price_schedules", headers={"Authorization": ""})).status_code == 200


async def test_any_non_empty_key_is_accepted_by_default() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox, Authorization="Bearer whatever") as client:
        assert (await client.get("/api/v1/me")).status_code == 200
        assert AUTH["Authorization"] != "Bearer whatever"


async def test_client_request_id_is_echoed() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        response = await client.get("/api/v1/me", headers={"X-Client-Request-Id": "trace-42"})
        assert response.headers["x-client-request-id"] == "trace-42"


async def test_control_info_and_clock_endpoints() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        info = (await client.get("/_sandbox")).json()
        assert info["sandbox"] is True
        assert info["config"]["latency"] == 0.05
        assert "sk-" not in str(info)
        assert_error(await client.post("/_sandbox/clock", json={"advance": -5}), 422)
        assert_error(await client.post("/_sandbox/balance", json={"balance_cents": "lots"}), 422)
