from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from runapi_mcp import __version__
from runapi_mcp.runapi import errors
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient, build_request

pytestmark = pytest.mark.anyio

TASK = "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14"
KEY = "rk_unit_test_SECRET_0123456789abcdef"


def created(task_id: str = TASK, **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "status": "pending", **extra}


def temp_file(name: str = "a.png") -> dict[str, Any]:
    return {
        "file_name": name,
        "url": f"https://files.runapi.test/tmp/{name}",
        "size_bytes": 3,
        "mime_type": "image/png",
        "created_at": "2025-06-01T12:00:00Z",
        "expires_at": "2025-06-02T12:00:00Z",
    }


def text_request() -> Any:
    return build_request("text_to_image", prompt="a red fox", aspect_ratio="16:9", output_resolution="2k")


# Headers and endpoints


async def test_create_text_to_image_posts_the_body_with_auth_json_and_the_key_as_a_header(fake: Any) -> None:
    """A text-to-image create is one POST to its endpoint with auth, JSON, user agent, idempotency key and the body."""
    fake.reply(fake.json(created()))
    task = await fake.client().create_task("text_to_image", text_request(), idempotency_key="job-1")
    assert (task.id, task.status, task.task_replayed) == (TASK, "pending", False)
    [request] = fake.requests
    assert request.method == "POST"
    assert str(request.url) == "https://runapi.test/api/v1/gpt_image_2/text_to_image"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == f"runapi-mcp/{__version__}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "job-1"
    assert fake.bodies == [
        {"model": "gpt-image-2", "prompt": "a red fox", "aspect_ratio": "16:9", "output_resolution": "2k"}
    ]


async def test_create_edit_posts_to_the_edit_endpoint_with_the_sources(fake: Any) -> None:
    fake.reply(fake.json(created(task_replayed=True)))
    request = build_request("edit_image", prompt="add a hat", source_image_urls=["https://x.test/a.png"])
    task = await fake.client().create_task("edit_image", request, idempotency_key="k")
    assert task.task_replayed is True
    assert str(fake.requests[0].url) == "https://runapi.test/api/v1/gpt_image_2/edit_image"
    assert fake.bodies == [
        {"model": "gpt-image-2", "prompt": "add a hat", "source_image_urls": ["https://x.test/a.png"]}
    ]


async def test_a_request_that_does_not_match_the_action_is_refused_before_sending(fake: Any) -> None:
    with pytest.raises(errors.ValidationError, match="edit_image needs a EditImageRequest"):
        await fake.client().create_task("edit_image", text_request(), idempotency_key="k")
    assert fake.requests == []


@pytest.mark.parametrize("key", ["", "x" * 513])
async def test_a_create_with_a_bad_idempotency_key_sends_nothing(fake: Any, key: str) -> None:
    with pytest.raises(errors.ValidationError, match="idempotency_key"):
        await fake.client().create_task("text_to_image", text_request(), idempotency_key=key)
    assert fake.requests == []


async def test_get_task_reads_status_images_usage_keeps_unknown_fields_and_retry_after(fake: Any) -> None:
    """get_task is one plain GET; its reply is parsed whole, unknown fields are kept and Retry-After is read."""
    body = {
        "id": TASK,
        "status": "completed",
        "images": [{"url": "https://cdn.test/1.png", "width": 1024}],
        "usage": {"cost": 0.06, "generated_images": 1},
        "billing": {"reservation": {"amount_cents": 6}},
        "brand_new_field": {"x": 1},
    }
    fake.reply(fake.json(body, headers={"Retry-After": "3"}))
    status = await fake.client().get_task("text_to_image", TASK)
    [request] = fake.requests
    assert request.method == "GET" and request.content == b""
    assert str(request.url) == f"https://runapi.test/api/v1/gpt_image_2/text_to_image/{TASK}"
    assert "Idempotency-Key" not in request.headers
    assert status.state == "completed" and status.is_terminal
    assert status.images[0].url == "https://cdn.test/1.png"
    assert status.images[0].model_extra == {"width": 1024}
    assert status.usage is not None and status.usage.cost == 0.06
    assert status.model_extra == {"brand_new_field": {"x": 1}}
    assert status.retry_after == 3.0


async def test_get_task_without_retry_after_has_no_hint(fake: Any) -> None:
    fake.reply(fake.json({"id": TASK, "status": "processing"}))
    status = await fake.client().get_task("edit_image", TASK)
    assert status.retry_after is None
    assert fake.requests[0].url.path == f"/api/v1/gpt_image_2/edit_image/{TASK}"


@pytest.mark.parametrize("task_id", ["../../me/balance", "a/b", "x?y=1", ""])
async def test_get_task_refuses_ids_that_would_change_the_path_without_sending(fake: Any, task_id: str) -> None:
    with pytest.raises(errors.ValidationError, match="task_id"):
        await fake.client().get_task("text_to_image", task_id)
    assert fake.requests == []


async def test_unknown_action_is_refused_without_sending(fake: Any) -> None:
    with pytest.raises(errors.ValidationError, match="action must be one of: text_to_image, edit_image"):
        await fake.client().get_task("upscale", TASK)  # type: ignore[arg-type]
    assert fake.requests == []


async def test_without_a_key_no_authorization_header_is_sent(fake: Any) -> None:
    fake.reply(fake.json({"as_of": "2025-06-01", "price_schedules": []}))
    client = fake.client(api_key=None)
    await client.price_schedules()
    assert "Authorization" not in fake.requests[0].headers
    assert client.has_api_key is False


async def test_with_api_key_uses_the_other_key_on_the_same_pool_and_leaves_the_original_alone(fake: Any) -> None:
    fake.reply(fake.json({"balance_cents": 1}), fake.json({"balance_cents": 2}), fake.json({"balance_cents": 3}))
    original = fake.client()
    tenant = original.with_api_key(SecretStr("rk_tenant_two"))
    anonymous = original.with_api_key(None)
    await tenant.balance()
    await original.balance()
    await anonymous.balance()
    auth = [r.headers.get("Authorization") for r in fake.requests]
    assert auth == ["Bearer rk_tenant_two", f"Bearer {KEY}", None]
    assert tenant._wire.http is original._wire.http  # pyright: ignore[reportPrivateUsage]


async def test_a_custom_user_agent_replaces_the_default(fake: Any) -> None:
    fake.reply(fake.json({"id": "u1"}))
    await fake.client(user_agent="my-host/1.0").me()
    assert fake.requests[0].headers["User-Agent"] == "my-host/1.0"


async def test_balance_and_me_read_their_endpoints(fake: Any) -> None:
    fake.reply(
        fake.json(
            {
                "balance_cents": 1234,
                "paid_balance_cents": 1000,
                "bonus_balance_cents": 234,
                "spent_cents_today": 12,
                "spent_cents_total": 99,
            }
        ),
        fake.json({"id": "u1", "name": "Ada", "email": "ada@example.test", "account": {"plan": "pro"}}),
    )
    client = fake.client()
    balance = await client.balance()
    me = await client.me()
    assert [(r.method, r.url.path) for r in fake.requests] == [("GET", "/api/v1/me/balance"), ("GET", "/api/v1/me")]
    assert balance.balance_cents == 1234 and balance.spent_cents_total == 99
    assert (me.name, me.account) == ("Ada", {"plan": "pro"})


# Price schedules: query, ETag and TTL cache


def schedules(cents: float) -> dict[str, Any]:
    return {
        "as_of": "2025-06-01T00:00:00Z",
        "price_schedules": [
            {
                "service": "gpt_image_2",
                "action": "text_to_image",
                "model": "gpt-image-2",
                "pricing_status": "live",
                "catalog_status": "ga",
                "currency": "USD",
                "billing_unit": "image",
                "billing_strategy": "per_unit",
                "unit_price_cents": cents,
                "billing_config": {"resolutions": {"1k": 6, "2k": 10, "4k": 16}},
            }
        ],
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_price_schedules_query_names_service_model_and_optionally_action(fake: Any) -> None:
    fake.reply(fake.json(schedules(6)), fake.json(schedules(6)))
    client = fake.client()
    await client.price_schedules()
    await client.price_schedules(action="edit_image")
    assert [r.url.path for r in fake.requests] == ["/api/v1/price_schedules"] * 2
    assert dict(fake.requests[0].url.params) == {"service": "gpt_image_2", "model": "gpt-image-2"}
    assert dict(fake.requests[1].url.params) == {
        "service": "gpt_image_2",
        "model": "gpt-image-2",
        "action": "edit_image",
    }


async def test_price_schedules_are_served_from_cache_within_the_ttl(fake: Any) -> None:
    clock = Clock()
    fake.reply(fake.json(schedules(6), headers={"ETag": '"v1"'}))
    client = fake.client(clock=clock, price_ttl=300)
    first = await client.price_schedules()
    clock.now += 299
    second = await client.price_schedules()
    assert len(fake.requests) == 1
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.price_schedules[0].unit_price_cents == 6
    assert second.price_schedules[0].billing_config == {"resolutions": {"1k": 6, "2k": 10, "4k": 16}}


async def test_stale_price_schedules_are_revalidated_with_the_etag_and_a_304_reuses_them(fake: Any) -> None:
    clock = Clock()
    fake.reply(fake.json(schedules(6), headers={"ETag": '"v1"'}), httpx2.Response(304, headers={"ETag": '"v1"'}))
    client = fake.client(clock=clock, price_ttl=300)
    await client.price_schedules()
    clock.now += 301
    revalidated = await client.price_schedules()
    assert "If-None-Match" not in fake.requests[0].headers
    assert fake.requests[1].headers["If-None-Match"] == '"v1"'
    assert revalidated.price_schedules[0].unit_price_cents == 6
    assert revalidated.from_cache is False
    clock.now += 100  # the 304 restarted the TTL
    await client.price_schedules()
    assert len(fake.requests) == 2


async def test_a_changed_price_list_replaces_the_cached_one(fake: Any) -> None:
    clock = Clock()
    fake.reply(
        fake.json(schedules(6), headers={"ETag": '"v1"'}),
        fake.json(schedules(7), headers={"ETag": '"v2"'}),
        httpx2.Response(304),
    )
    client = fake.client(clock=clock, price_ttl=300)
    await client.price_schedules()
    clock.now += 301
    assert (await client.price_schedules()).price_schedules[0].unit_price_cents == 7
    clock.now += 301
    assert (await client.price_schedules()).price_schedules[0].unit_price_cents == 7
    assert fake.requests[2].headers["If-None-Match"] == '"v2"'


async def test_without_an_etag_a_stale_cache_is_simply_refetched(fake: Any) -> None:
    clock = Clock()
    fake.reply(fake.json(schedules(6)), fake.json(schedules(6)))
    client = fake.client(clock=clock, price_ttl=300)
    await client.price_schedules()
    clock.now += 301
    await client.price_schedules()
    assert "If-None-Match" not in fake.requests[1].headers


async def test_the_price_cache_is_kept_per_action_and_shared_between_keys(fake: Any) -> None:
    fake.reply(fake.json(schedules(6)), fake.json(schedules(8)))
    client = fake.client(clock=Clock())
    await client.price_schedules(action="text_to_image")
    await client.with_api_key(SecretStr("rk_other")).price_schedules(action="text_to_image")
    edit = await client.price_schedules(action="edit_image")
    assert len(fake.requests) == 2
    assert edit.price_schedules[0].unit_price_cents == 8


async def test_editing_a_returned_price_list_does_not_change_the_cache(fake: Any) -> None:
    fake.reply(fake.json(schedules(6)))
    client = fake.client(clock=Clock())
    first = await client.price_schedules()
    first.price_schedules.clear()
    assert len((await client.price_schedules()).price_schedules) == 1


async def test_a_304_without_a_cached_copy_is_an_unexpected_response(fake: Any) -> None:
    fake.reply(httpx2.Response(304))
    with pytest.raises(errors.UnexpectedResponseError):
        await fake.client().price_schedules()


# Temporary files


SIGNED_URL = "https://storage.test/bucket/key?X-Signature=abc123sig&X-Expires=600"
SIGNED_HEADERS = {"Content-Type": "image/png", "Content-MD5": "placeholder", "x-amz-meta-origin": "runapi"}


def prepared() -> dict[str, Any]:
    return {"signed_id": "signed-42", "upload_url": SIGNED_URL, "headers": SIGNED_HEADERS}


async def test_upload_prepares_puts_exactly_the_signed_headers_without_auth_and_confirms(fake: Any) -> None:
    """An upload prepares with auth, PUTs only the signed headers (no auth, no defaults) and confirms."""
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    fake.reply(fake.json(prepared()), httpx2.Response(200), fake.json(temp_file("pic.png")))
    # Even a client that carries default headers (or a key) must not leak them to the storage host.
    http = fake.http(headers={"Authorization": "Bearer should-never-be-sent", "X-Default": "1"})
    result = await fake.client(http=http).upload_file(data, filename="pic.png", content_type="image/png")

    prepare, put, confirm = fake.requests
    assert (prepare.method, prepare.url.path) == ("POST", "/api/v1/files/prepare")
    assert fake.bodies[0] == {
        "filename": "pic.png",
        "byte_size": len(data),
        "content_type": "image/png",
        "checksum": base64.b64encode(hashlib.md5(data).digest()).decode(),
    }
    assert prepare.headers["Authorization"] == f"Bearer {KEY}"

    assert put.method == "PUT" and str(put.url) == SIGNED_URL
    assert put.content == data
    sent = {k.lower(): v for k, v in put.headers.items() if k.lower() not in ("host", "content-length")}
    assert sent == {k.lower(): v for k, v in SIGNED_HEADERS.items()}
    assert "authorization" not in {k.lower() for k in put.headers}

    assert (confirm.method, confirm.url.path) == ("POST", "/api/v1/files/confirm")
    assert json.loads(confirm.content) == {"signed_id": "signed-42"}
    assert result.file_name == "pic.png"


async def test_a_failed_upload_put_is_not_retried_and_nothing_is_confirmed(fake: Any) -> None:
    fake.reply(fake.json(prepared()), httpx2.Response(503, text="<Error><Code>SlowDown</Code></Error>"))
    with pytest.raises(errors.ServerError) as info:
        await fake.client().upload_file(b"abc", filename="a.png", content_type="image/png")
    assert [r.method for r in fake.requests] == ["POST", "PUT"]
    assert "a.png" in info.value.message and "abc123sig" not in info.value.message


async def test_a_dropped_upload_put_is_not_retried_and_hides_the_signed_url(fake: Any) -> None:
    fake.reply(fake.json(prepared()), httpx2.WriteError(f"broken pipe while sending to {SIGNED_URL}"))
    with pytest.raises(errors.ConnectionFailedError) as info:
        await fake.client().upload_file(b"abc", filename="a.png", content_type="image/png")
    assert [r.method for r in fake.requests] == ["POST", "PUT"]
    assert "storage.test" in info.value.message
    assert "abc123sig" not in info.value.message


async def test_an_unusable_upload_url_stops_before_any_put(fake: Any) -> None:
    fake.reply(fake.json({"signed_id": "s", "upload_url": "ftp://storage.test/x", "headers": {}}))
    with pytest.raises(errors.UnexpectedResponseError, match="upload URL"):
        await fake.client().upload_file(b"abc", filename="a.png", content_type="image/png")
    assert [r.method for r in fake.requests] == ["POST"]


async def test_an_empty_upload_is_refused_without_sending(fake: Any) -> None:
    with pytest.raises(errors.ValidationError, match="empty"):
        await fake.client().upload_file(b"", filename="a.png", content_type="image/png")
    assert fake.requests == []


# Retries


async def test_a_keyed_create_retried_after_a_503_yields_one_task_with_the_same_key(fake: Any) -> None:
    fake.reply(fake.json({"error": "try again"}, status=503), fake.json(created()))
    task = await fake.client().create_task("text_to_image", text_request(), idempotency_key="job-7")
    assert task.id == TASK
    assert [r.headers["Idempotency-Key"] for r in fake.requests] == ["job-7", "job-7"]
    assert fake.bodies[0] == fake.bodies[1]
    assert all("Idempotency-Key" not in body and "idempotency_key" not in body for body in fake.bodies)


async def test_a_create_whose_connection_dropped_is_retried_and_the_replay_is_reported(fake: Any) -> None:
    fake.reply(httpx2.ReadTimeout("timed out"), fake.json(created(task_replayed=True)))
    task = await fake.client().create_task("text_to_image", text_request(), idempotency_key="job-8")
    assert task.task_replayed is True
    assert len(fake.requests) == 2


async def test_an_unkeyed_post_is_never_retried_after_a_server_error(fake: Any) -> None:
    fake.reply(fake.json({"error": "boom"}, status=503))
    with pytest.raises(errors.ServerError):
        await fake.client().upload_file(b"\x89PNG", filename="a.png", content_type="image/png")
    assert len(fake.requests) == 1


async def test_an_unkeyed_post_is_never_retried_after_a_dropped_connection(fake: Any) -> None:
    fake.reply(httpx2.RemoteProtocolError("server disconnected"))
    with pytest.raises(errors.ConnectionFailedError, match=r"runapi\.test"):
        await fake.client().upload_file(b"\x89PNG", filename="a.png", content_type="image/png")
    assert len(fake.requests) == 1


async def test_a_get_is_retried_on_429_after_waiting_retry_after(fake: Any) -> None:
    fake.reply(
        fake.json({"error": "slow down"}, status=429, headers={"Retry-After": "0.08"}), fake.json({"balance_cents": 5})
    )
    started = time.monotonic()
    balance = await fake.client().balance()
    assert time.monotonic() - started >= 0.08
    assert balance.balance_cents == 5 and len(fake.requests) == 2


async def test_retry_after_may_exceed_the_backoff_cap(fake: Any) -> None:
    fake.reply(fake.json({}, status=503, headers={"Retry-After": "0.05"}), fake.json({"balance_cents": 5}))
    started = time.monotonic()
    await fake.client(retry=fake.fast_retry(max_delay=0.001)).balance()
    assert time.monotonic() - started >= 0.05


async def test_a_retry_after_longer_than_the_limit_is_raised_at_once(fake: Any) -> None:
    fake.reply(fake.json({"error": "come back later"}, status=429, headers={"Retry-After": "120"}))
    with pytest.raises(errors.RateLimitError) as info:
        await fake.client(retry=fake.fast_retry(max_retry_after=30)).balance()
    assert info.value.retry_after == 120.0
    assert len(fake.requests) == 1


async def test_a_dropped_connection_on_a_get_is_retried(fake: Any) -> None:
    fake.reply(httpx2.ConnectError("connection refused"), fake.json({"id": TASK, "status": "processing"}))
    status = await fake.client().get_task("text_to_image", TASK)
    assert status.state == "processing" and len(fake.requests) == 2


async def test_exhausted_retries_raise_the_last_error(fake: Any) -> None:
    fake.reply(
        *(fake.json({"error": f"attempt {i}"}, status=503, headers={"x-request-id": f"r{i}"}) for i in range(1, 5))
    )
    with pytest.raises(errors.ServerError) as info:
        await fake.client(retry=fake.fast_retry(max_retries=3)).get_task("text_to_image", TASK)
    assert len(fake.requests) == 4
    assert (info.value.message, info.value.request_id) == ("attempt 4", "r4")


async def test_exhausted_retries_after_connection_drops_raise_connection_failed(fake: Any) -> None:
    fake.reply(*(httpx2.ConnectTimeout("connect timed out") for _ in range(3)))
    with pytest.raises(errors.ConnectionFailedError, match="timed out") as info:
        await fake.client(retry=fake.fast_retry(max_retries=2)).me()
    assert len(fake.requests) == 3
    assert "ConnectTimeout" in info.value.message
    assert info.value.__cause__ is None  # the transport error holds the request and its Authorization header


async def test_zero_max_retries_means_one_attempt(fake: Any) -> None:
    fake.reply(fake.json({}, status=500))
    with pytest.raises(errors.ServerError):
        await fake.client(retry=fake.fast_retry(max_retries=0)).me()
    assert len(fake.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 402, 404, 409, 422])
async def test_client_errors_are_not_retried_even_on_keyed_creates(fake: Any, status: int) -> None:
    fake.reply(fake.json({"error": "no"}, status=status))
    with pytest.raises(errors.RunAPIError) as info:
        await fake.client().create_task("text_to_image", text_request(), idempotency_key="k")
    assert info.value.status == status and len(fake.requests) == 1


async def test_a_409_is_an_idempotency_conflict_carrying_the_task_id(fake: Any) -> None:
    fake.reply(
        fake.json(
            {"error": {"code": "idempotency_conflict", "message": "key reused"}},
            status=409,
            headers={"X-RunAPI-Task-Id": TASK},
        )
    )
    with pytest.raises(errors.IdempotencyConflictError) as info:
        await fake.client().create_task("text_to_image", text_request(), idempotency_key="k")
    assert (info.value.code, info.value.task_id) == ("idempotency_conflict", TASK)


async def test_a_bad_url_is_not_retried(fake: Any) -> None:
    fake.reply(httpx2.UnsupportedProtocol("Request URL has an unsupported protocol"))
    with pytest.raises(errors.ConnectionFailedError) as info:
        await fake.client().me()
    assert info.value.retryable is False and len(fake.requests) == 1


def test_backoff_grows_from_base_to_the_cap_with_jitter_between() -> None:
    low = RetryPolicy(base_delay=0.5, max_delay=5.0, jitter=lambda: 0.0)
    high = RetryPolicy(base_delay=0.5, max_delay=5.0, jitter=lambda: 0.999999)
    assert [round(low.backoff(n), 3) for n in range(6)] == [0.5] * 6
    assert [round(high.backoff(n), 3) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_delay_before_honours_retry_after_and_the_retry_budget() -> None:
    policy = RetryPolicy(max_retries=2, max_retry_after=30, jitter=lambda: 0.0)
    assert policy.delay_before(0, errors.RateLimitError("x", retry_after=12)) == 12
    assert policy.delay_before(0, errors.RateLimitError("x", retry_after=31)) is None
    assert policy.delay_before(0, errors.ServerError("x")) == 0.5
    assert policy.delay_before(2, errors.ServerError("x")) is None
    assert policy.delay_before(0, errors.NotFoundError("x")) is None


# Unexpected 2xx bodies


@pytest.mark.parametrize(
    "reply",
    [
        httpx2.Response(200, text="<html>maintenance</html>"),
        httpx2.Response(200, text=""),
        httpx2.Response(200, json=[{"id": TASK}]),
        httpx2.Response(200, json={"status": "pending"}),
        httpx2.Response(200, json={"id": None, "status": "pending"}),
    ],
)
async def test_a_2xx_body_that_breaks_the_contract_is_an_unexpected_response(fake: Any, reply: Any) -> None:
    fake.reply(reply)
    with pytest.raises(errors.UnexpectedResponseError, match="does not match its API contract"):
        await fake.client().create_task("text_to_image", text_request(), idempotency_key="k")
    assert len(fake.requests) == 1


async def test_an_unexpected_body_keeps_the_task_and_request_ids(fake: Any) -> None:
    fake.reply(httpx2.Response(202, text="accepted", headers={"X-RunAPI-Task-Id": TASK, "x-request-id": "r9"}))
    with pytest.raises(errors.UnexpectedResponseError) as info:
        await fake.client().create_task("text_to_image", text_request(), idempotency_key="k")
    assert (info.value.task_id, info.value.request_id, info.value.status) == (TASK, "r9", 202)


# The key stays secret


async def test_the_key_never_appears_in_errors_or_reprs(fake: Any) -> None:
    fake.reply(
        fake.json({"error": {"message": f"invalid key {KEY}"}}, status=401),
        httpx2.ConnectError(f"refused while sending Authorization: Bearer {KEY}"),
        httpx2.Response(200, text=f"not json {KEY}"),
    )
    client = fake.client(retry=fake.fast_retry(max_retries=0))
    caught: list[errors.RunAPIError] = []
    for call in (client.me, client.balance, client.me):
        with pytest.raises(errors.RunAPIError) as info:
            await call()
        caught.append(info.value)
    assert [type(e) for e in caught] == [
        errors.AuthenticationError,
        errors.ConnectionFailedError,
        errors.UnexpectedResponseError,
    ]
    for err in caught:
        for text in (str(err), repr(err), err.message, repr(err.args), repr(vars(err))):
            assert KEY not in text
    assert KEY not in repr(client) and KEY not in str(client)
    assert "api_key=set" in repr(client)


async def test_with_retry_swaps_the_policy_and_keeps_the_rest(fake: Any) -> None:
    fake.reply(fake.json({}, status=503))
    client = fake.client().with_retry(RetryPolicy(max_retries=0))
    with pytest.raises(errors.ServerError):
        await client.me()
    assert len(fake.requests) == 1 and fake.requests[0].headers["Authorization"] == f"Bearer {KEY}"


async def test_a_redirect_is_not_followed_and_names_where_it_points(fake: Any) -> None:
    fake.reply(httpx2.Response(301, headers={"Location": "https://runapi.ai/api/v1/me"}, text="<html>moved</html>"))
    with pytest.raises(errors.UnexpectedResponseError, match=r"redirecting to https://runapi\.ai; use that"):
        await fake.client().me()
    assert len(fake.requests) == 1


@pytest.mark.parametrize("bad", ["rk one", "rk\nX-Injected: 1", "rk\tx", "ключ"])
def test_a_key_that_cannot_be_sent_in_a_header_is_refused_without_echoing_it(fake: Any, bad: str) -> None:
    with pytest.raises(errors.AuthenticationError) as info:
        fake.client(api_key=bad)
    assert bad not in info.value.message


async def test_an_empty_key_counts_as_no_key(fake: Any) -> None:
    fake.reply(fake.json({"id": "u"}))
    client = RunAPIClient(fake.http(), base_url="https://runapi.test/", api_key=SecretStr(""))
    await client.me()
    assert "Authorization" not in fake.requests[0].headers
    assert str(fake.requests[0].url) == "https://runapi.test/api/v1/me"
