"""Malformed requests get RunAPI-style 400/422 JSON errors, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runapi_mcp.sandbox import SandboxThread
from tests.sandbox.helpers import BODY, EDIT, FAST, T2I, assert_error, client_for, ledger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    # One sandbox for the module: these requests must leave no trace, which the tests check.
    with SandboxThread(FAST) as running:
        yield running


EDIT_BODY: dict[str, Any] = {**BODY, "source_image_urls": ["https://example.com/a.png"]}

RAW_BODIES = [
    (T2I, b"not json", 400),
    (T2I, b"", 400),
    (T2I, b"[]", 400),
    (T2I, b'"prompt"', 400),
    (T2I, b"[" * 100_000, 400),
    (T2I, b"\xff\xfe\x00garbage", 400),
    ("/api/v1/files", b"{", 400),
    ("/api/v1/price_quotes", b"nope", 400),
]

JSON_BODIES: list[tuple[str, Any, int]] = [
    (T2I, {"model": "gpt-image-2"}, 422),
    (T2I, {"prompt": "no model"}, 422),
    (T2I, {**BODY, "model": "dall-e-3"}, 422),
    (T2I, {**BODY, "prompt": 123}, 422),
    (T2I, {**BODY, "prompt": "   "}, 422),
    (T2I, {**BODY, "aspect_ratio": "5:3"}, 422),
    (T2I, {**BODY, "aspect_ratio": 1.5}, 422),
    (T2I, {**BODY, "output_resolution": "8k"}, 422),
    (T2I, {**BODY, "output_resolution": 1}, 422),
    (T2I, {**BODY, "n": 2}, 422),
    (T2I, {**BODY, "callback_url": "ftp://example.com/hook"}, 422),
    (T2I, {**BODY, "source_image_urls": ["https://example.com/a.png"]}, 422),
    (EDIT, BODY, 422),
    (EDIT, {**BODY, "source_image_urls": []}, 422),
    (EDIT, {**BODY, "source_image_urls": "https://example.com/a.png"}, 422),
    (EDIT, {**BODY, "source_image_urls": [f"https://example.com/{i}.png" for i in range(17)]}, 422),
    (EDIT, {**BODY, "source_image_urls": [123]}, 422),
    (EDIT, {**BODY, "source_image_urls": [""]}, 422),
    (EDIT, {**BODY, "source_image_urls": ["file:///etc/passwd"]}, 422),
    (EDIT, {**BODY, "source_image_urls": ["data:image/png;base64,!!!"]}, 422),
    (EDIT, {**BODY, "source_image_urls": ["data:text/plain,hello"]}, 422),
    ("/api/v1/files", {}, 422),
    ("/api/v1/files", {"source": "https://example.com/a.png"}, 422),
    ("/api/v1/files", {"source": {"type": "ftp", "url": "x"}}, 422),
    ("/api/v1/files", {"source": {"type": "url", "url": "not a url"}}, 422),
    ("/api/v1/files", {"source": {"type": "base64", "data": "%%%"}}, 422),
    ("/api/v1/files", {"source": {"type": "base64", "data": 5}}, 422),
    ("/api/v1/files/prepare", {"filename": "a.png", "byte_size": -1, "checksum": "1B2M2Y8AsgTpgAmY7PhCfg=="}, 422),
    ("/api/v1/files/prepare", {"filename": "a.png", "byte_size": "10", "checksum": "1B2M2Y8AsgTpgAmY7PhCfg=="}, 422),
    ("/api/v1/files/prepare", {"filename": "a.png", "byte_size": 10, "checksum": "abc"}, 422),
    ("/api/v1/files/prepare", {"byte_size": 10, "checksum": "1B2M2Y8AsgTpgAmY7PhCfg=="}, 422),
    ("/api/v1/files/prepare", {"filename": "a.png", "byte_size": 10**12, "checksum": "1B2M2Y8AsgTpgAmY7PhCfg=="}, 413),
    ("/api/v1/files/confirm", {}, 422),
    ("/api/v1/price_quotes", {}, 422),
    ("/api/v1/price_quotes", {"service": "gpt_image_2", "action": "text_to_image", "params": []}, 422),
    ("/api/v1/price_quotes", {"service": "gpt_image_2", "action": "x"}, 404),
    (
        "/api/v1/price_quotes",
        {"service": "gpt_image_2", "action": "edit_image", "params": {"output_resolution": 4}},
        422,
    ),
]


@pytest.mark.parametrize(("path", "raw", "status"), RAW_BODIES)
async def test_unreadable_bodies_are_400_json(sandbox: SandboxThread, path: str, raw: bytes, status: int) -> None:
    async with client_for(sandbox) as client:
        response = await client.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert_error(response, status)


@pytest.mark.parametrize(("path", "body", "status"), JSON_BODIES)
async def test_invalid_bodies_are_answered_with_runapi_style_errors(
    sandbox: SandboxThread, path: str, body: Any, status: int
) -> None:
    async with client_for(sandbox) as client:
        before = (await ledger(client))["totals"]
        assert_error(await client.post(path, json=body), status)
        assert (await ledger(client))["totals"] == before


@pytest.mark.parametrize("key", ["", "k" * 513])
async def test_idempotency_key_outside_1_to_512_characters_is_a_400(sandbox: SandboxThread, key: str) -> None:
    async with client_for(sandbox) as client:
        assert_error(
            await client.post(T2I, json=BODY, headers={"Idempotency-Key": key}), 400, "invalid_idempotency_key"
        )
        assert (await client.post(T2I, json=BODY, headers={"Idempotency-Key": "k" * 512})).status_code == 200


async def test_client_request_id_over_512_characters_is_a_400(sandbox: SandboxThread) -> None:
    async with client_for(sandbox) as client:
        response = await client.get("/api/v1/me", headers={"X-Client-Request-Id": "x" * 513})
        assert_error(response, 400, "invalid_client_request_id")


async def test_wrong_method_and_unknown_route_are_json_errors(sandbox: SandboxThread) -> None:
    async with client_for(sandbox) as client:
        assert_error(await client.delete(T2I), 405)
        assert_error(await client.get("/nowhere"), 404)


async def test_a_validation_error_names_the_allowed_values(sandbox: SandboxThread) -> None:
    async with client_for(sandbox) as client:
        response = await client.post(T2I, json={**BODY, "aspect_ratio": "5:3"})
        message = response.json()["error"]["message"]
        assert "aspect_ratio" in message and "16:9" in message
        assert len(message) < 300
