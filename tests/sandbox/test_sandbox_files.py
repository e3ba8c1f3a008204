"""Temporary files: direct uploads with exact headers, url/base64 registration, expiry, and files as edit sources."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx2
import pytest

from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from tests.sandbox.helpers import (
    EDIT,
    FAST,
    advance,
    assert_error,
    client_for,
    create,
    ledger,
    open_png,
    solid_png,
    wait_done,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


async def prepare(client: httpx2.AsyncClient, data: bytes, filename: str = "green.png") -> dict[str, Any]:
    response = await client.post(
        "/api/v1/files/prepare", json={"filename": filename, "byte_size": len(data), "checksum": md5_b64(data)}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_prepare_put_confirm_gives_a_url_that_serves_the_bytes_until_it_expires() -> None:
    data = solid_png((0, 200, 0))
    async with running_sandbox(SandboxConfig(latency=0.05, url_ttl=120)) as sandbox, client_for(sandbox) as client:
        prepared = await prepare(client, data)
        assert prepared["headers"] == {"Content-Type": "image/png", "Content-MD5": md5_b64(data)}
        upload_url = str(prepared["upload_url"])
        assert upload_url.startswith(sandbox.url)
        async with httpx2.AsyncClient(timeout=10) as bare:  # no Authorization, as the contract says
            put = await bare.put(upload_url, content=data, headers=prepared["headers"])
        assert put.status_code == 200

        confirmed = await client.post("/api/v1/files/confirm", json={"signed_id": prepared["signed_id"]})
        assert confirmed.status_code == 200
        file = confirmed.json()
        assert file["file_name"] == "green.png"
        assert file["size_bytes"] == len(data)
        assert file["mime_type"] == "image/png"
        assert file["created_at"].endswith("Z") and file["expires_at"].endswith("Z")
        again = await client.post("/api/v1/files/confirm", json={"signed_id": prepared["signed_id"]})
        assert again.json()["url"] == file["url"]

        served = await client.get(file["url"], headers={"Authorization": ""})
        assert served.status_code == 200
        assert served.content == data
        assert served.headers["content-type"] == "image/png"
        await advance(client, 121)
        assert_error(await client.get(file["url"]), 410, "url_expired")


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ({"Content-Type": "image/jpeg"}, None, "upload_header_mismatch"),
        ({"Content-MD5": md5_b64(b"other")}, None, "upload_header_mismatch"),
        ({"Authorization": "Bearer sk-sandbox-test"}, None, "unexpected_authorization"),
        ({}, b"flip-one-byte", "bad_digest"),
        ({}, b"short", "upload_size_mismatch"),
    ],
    ids=["content-type", "content-md5", "authorization", "checksum", "size"],
)
async def test_upload_put_is_rejected_unless_it_carries_exactly_the_prepared_headers_and_bytes(
    headers: dict[str, str], body: bytes | None, code: str
) -> None:
    data = solid_png((0, 200, 0))
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        prepared = await prepare(client, data)
        sent = {**prepared["headers"], **headers}
        async with httpx2.AsyncClient(timeout=10) as bare:
            if body == b"flip-one-byte":
                body = bytes([data[0] ^ 1]) + data[1:]
            put = await bare.put(str(prepared["upload_url"]), content=body or data, headers=sent)
        assert_error(put, 400, code)
        unconfirmed = await client.post("/api/v1/files/confirm", json={"signed_id": prepared["signed_id"]})
        assert_error(unconfirmed, 422, "upload_incomplete")


async def test_upload_to_an_unknown_url_or_confirm_of_an_unknown_id_is_404() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        assert_error(await client.put("/uploads/nope", content=b"x"), 404)
        assert_error(await client.post("/api/v1/files/confirm", json={"signed_id": "nope"}), 404)


async def test_base64_and_data_uri_files_keep_their_bytes_and_type() -> None:
    data = solid_png((1, 2, 3))
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        raw = await client.post(
            "/api/v1/files", json={"source": {"type": "base64", "data": base64.b64encode(data).decode()}}
        )
        uri = await client.post(
            "/api/v1/files",
            json={
                "source": {"type": "base64", "data": "data:image/png;base64," + base64.b64encode(data).decode()},
                "file_name": "pixel.png",
            },
        )
        for response in (raw, uri):
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["mime_type"] == "image/png"
            assert body["size_bytes"] == len(data)
            assert (await client.get(body["url"])).content == data
        assert uri.json()["file_name"] == "pixel.png"


async def test_outside_url_file_is_a_marked_placeholder_and_never_fetched() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        response = await client.post(
            "/api/v1/files", json={"source": {"type": "url", "url": "https://images.example.invalid/cat.jpg"}}
        )
        assert response.status_code == 200
        body = response.json()
        assert body["file_name"] == "cat.jpg"
        image = open_png((await client.get(body["url"])).content)
        assert image.size == (512, 512)


async def test_edit_with_an_uploaded_file_a_data_uri_and_an_outside_url_tiles_all_three() -> None:
    red = solid_png((255, 0, 0))
    blue_uri = "data:image/png;base64," + base64.b64encode(solid_png((0, 0, 255))).decode()
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        uploaded = await client.post(
            "/api/v1/files", json={"source": {"type": "base64", "data": base64.b64encode(red).decode()}}
        )
        body = {
            "model": "gpt-image-2",
            "prompt": "combine",
            "aspect_ratio": "3:1",
            "source_image_urls": [uploaded.json()["url"], blue_uri, "https://example.invalid/far-away.png"],
        }
        done = await wait_done(client, (await create(client, body, path=EDIT)).json()["id"], path=EDIT)
        assert done["status"] == "completed"
        image = open_png((await client.get(done["images"][0]["url"])).content)
        assert image.size == (1024, 336)
        middle = image.height // 3
        assert image.getpixel((image.width // 6 + 60, middle)) == (255, 0, 0)
        assert image.getpixel((image.width // 2, middle)) == (0, 0, 255)
        placeholder = image.getpixel((5 * image.width // 6, middle))
        assert isinstance(placeholder, tuple)
        assert placeholder[0] == placeholder[1] == placeholder[2]  # the grey tile standing in for the outside URL


async def test_edit_can_use_an_earlier_output_url_as_its_source() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        first = await wait_done(client, (await create(client)).json()["id"])
        body = {"model": "gpt-image-2", "prompt": "again", "source_image_urls": [first["images"][0]["url"]]}
        done = await wait_done(client, (await create(client, body, path=EDIT)).json()["id"], path=EDIT)
        assert done["status"] == "completed"
        assert open_png((await client.get(done["images"][0]["url"])).content).size == (1024, 1024)


async def test_edit_whose_source_url_expired_fails_and_is_refunded() -> None:
    async with running_sandbox(SandboxConfig(latency=0.05, url_ttl=10)) as sandbox, client_for(sandbox) as client:
        uploaded = await client.post(
            "/api/v1/files",
            json={"source": {"type": "base64", "data": base64.b64encode(solid_png((9, 9, 9))).decode()}},
        )
        await advance(client, 11)
        body = {"model": "gpt-image-2", "prompt": "late", "source_image_urls": [uploaded.json()["url"]]}
        done = await wait_done(client, (await create(client, body, path=EDIT)).json()["id"], path=EDIT)
        assert done["status"] == "failed"
        assert "expired" in done["error"]
        assert (await ledger(client))["totals"]["charged_cents"] == 0
