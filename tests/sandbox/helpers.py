"""Shared bits for the sandbox tests: a client, create/poll helpers, and PNG helpers."""

from __future__ import annotations

import io
from typing import Any

import anyio
import httpx2
from PIL import Image

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, SandboxThread

KEY = "sk-sandbox-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
T2I = "/api/v1/gpt_image_2/text_to_image"
EDIT = "/api/v1/gpt_image_2/edit_image"
FAST = SandboxConfig(latency=0.05, status_retry_after=0.01)
BODY: dict[str, Any] = {"model": "gpt-image-2", "prompt": "a lighthouse at dusk"}


def client_for(sandbox: RunningSandbox | SandboxThread, **headers: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=sandbox.url, headers={**AUTH, **headers}, timeout=10)


async def create(
    client: httpx2.AsyncClient,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    fault: str | None = None,
    path: str = T2I,
) -> httpx2.Response:
    headers: dict[str, str] = {}
    if key is not None:
        headers["Idempotency-Key"] = key
    if fault is not None:
        headers["X-Sandbox-Fault"] = fault
    return await client.post(path, json=BODY if body is None else body, headers=headers)


async def wait_done(client: httpx2.AsyncClient, task_id: str, path: str = T2I, limit: float = 5.0) -> dict[str, Any]:
    """Poll every 10 ms until the task is terminal; fails the test after `limit` seconds."""
    with anyio.fail_after(limit):
        while True:
            response = await client.get(f"{path}/{task_id}")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] in ("completed", "failed"):
                return body
            await anyio.sleep(0.01)


async def ledger(client: httpx2.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_sandbox/ledger")
    assert response.status_code == 200
    return response.json()


async def advance(client: httpx2.AsyncClient, seconds: float) -> None:
    response = await client.post("/_sandbox/clock", json={"advance": seconds})
    assert response.status_code == 200


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def open_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image.convert("RGB")


def assert_error(response: httpx2.Response, status: int | tuple[int, ...], code: str | None = None) -> None:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text)
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
