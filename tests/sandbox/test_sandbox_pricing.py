"""Price schedules with ETag/304, quotes from the list prices, and the account endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from runapi_mcp.sandbox import SandboxThread
from tests.sandbox.helpers import FAST, client_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(FAST) as running:
        yield running


async def test_price_schedules_need_no_key_and_answer_304_to_a_matching_etag(sandbox: SandboxThread) -> None:
    async with httpx2.AsyncClient(base_url=sandbox.url) as anonymous:
        first = await anonymous.get("/api/v1/price_schedules")
        assert first.status_code == 200
        tag = first.headers["etag"]
        body = first.json()
        assert body["as_of"]
        assert {s["action"] for s in body["price_schedules"]} == {"text_to_image", "edit_image"}
        for schedule in body["price_schedules"]:
            assert schedule["service"] == "gpt_image_2"
            assert schedule["unit_price_cents"] == 6
            assert schedule["billing_config"]["output_resolution_prices_cents"] == {"1k": 6, "2k": 10, "4k": 16}

        cached = await anonymous.get("/api/v1/price_schedules", headers={"If-None-Match": tag})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == tag
        weak = await anonymous.get("/api/v1/price_schedules", headers={"If-None-Match": f'"other", W/{tag}'})
        assert weak.status_code == 304
        stale = await anonymous.get("/api/v1/price_schedules", headers={"If-None-Match": '"stale"'})
        assert stale.status_code == 200


@pytest.mark.parametrize(
    ("query", "actions"),
    [
        ({"service": "gpt_image_2", "action": "edit_image"}, ["edit_image"]),
        ({"service": "gpt-image-2"}, ["text_to_image", "edit_image"]),
        ({"model": "gpt-image-2", "action": "text_to_image"}, ["text_to_image"]),
        ({"service": "sora_2"}, []),
    ],
)
async def test_price_schedule_filters(sandbox: SandboxThread, query: dict[str, str], actions: list[str]) -> None:
    async with client_for(sandbox) as client:
        body = (await client.get("/api/v1/price_schedules", params=query)).json()
        assert [s["action"] for s in body["price_schedules"]] == actions


@pytest.mark.parametrize(("resolution", "cents"), [(None, 6), ("1k", 6), ("2k", 10), ("4k", 16)])
async def test_price_quote_reserves_the_list_price_for_the_resolution(
    sandbox: SandboxThread, resolution: str | None, cents: int
) -> None:
    params = {} if resolution is None else {"output_resolution": resolution}
    async with client_for(sandbox) as client:
        response = await client.post(
            "/api/v1/price_quotes",
            json={"service": "gpt_image_2", "action": "text_to_image", "model": "gpt-image-2", "params": params},
        )
        assert response.status_code == 200
        quote = response.json()["price_quote"]
        assert quote["reservation_amount_cents"] == cents
        assert quote["currency"] == "USD"
        assert set(quote) == {
            "service", "action", "model", "pricing_status", "currency",
            "reservation_amount_cents", "estimate_basis", "as_of",
        }  # fmt: skip


async def test_me_describes_the_sandbox_account(sandbox: SandboxThread) -> None:
    async with client_for(sandbox) as client:
        me = (await client.get("/api/v1/me")).json()
        assert set(me) == {"id", "name", "email", "account", "sandbox"}
        assert me["sandbox"] is True
        assert isinstance(me["id"], int)
