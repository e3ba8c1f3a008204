"""Result downloads, end to end: a RunAPI stand-in on loopback answers completed tasks whose image URLs
are hostile. Only http(s), never another loopback port or a private address (nor by redirect), a size
cap, a content-type check, and timeouts on a stalled or trickling body. Each refusal leaves no file."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from runapi_mcp.server import build_server
from runapi_mcp.server.http import running_http
from runapi_mcp.settings import Settings
from tests.security.harness import RecordingTransport
from tests.support.environments import http_settings, refused_url
from tests.support.mcp_http import text_of

pytestmark = pytest.mark.anyio


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "navy").save(out, "PNG")
    return out.getvalue()


PNG = png()


class Probe:
    """Another service on this machine: it must never be reached."""

    def __init__(self) -> None:
        self.hits = 0

    async def endpoint(self, request: Request) -> Response:
        self.hits += 1
        return Response(PNG, media_type="image/png")


def stand_in(urls: dict[str, str]) -> Starlette:
    async def create(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"id": body["prompt"], "status": "pending"})

    async def status(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        return JSONResponse(
            {
                "id": task_id,
                "status": "completed",
                "images": [{"url": urls[task_id]}],
                "usage": {"cost": 0.06, "generated_images": 1},
            }
        )

    async def image(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "ok.png":
            return Response(PNG, media_type="image/png")
        if name == "page":
            return Response("<html>login</html>", media_type="text/html")
        if name == "json":
            return JSONResponse({"error": "nope"})
        if name == "huge":  # no Content-Length: the cap must hold as the bytes arrive

            async def endless() -> AsyncIterator[bytes]:
                yield PNG[:64]
                for _ in range(64):
                    yield b"\0" * 65536

            return StreamingResponse(endless(), media_type="image/png")
        if name == "declared-huge":
            return Response(PNG, media_type="image/png", headers={"Content-Length": str(50 * 1024 * 1024)})
        if name == "stall":

            async def stall() -> AsyncIterator[bytes]:
                yield PNG[:32]
                await asyncio.sleep(60)
                yield PNG[32:]

            return StreamingResponse(stall(), media_type="image/png")
        if name == "trickle":  # each byte well inside the read timeout, the whole far beyond it

            async def trickle() -> AsyncIterator[bytes]:
                for byte in PNG:
                    await asyncio.sleep(0.25)
                    yield bytes([byte])

            return StreamingResponse(trickle(), media_type="image/png")
        return RedirectResponse(urls[f"to-{name}"], status_code=302)

    return Starlette(
        routes=[
            Route("/api/v1/gpt_image_2/text_to_image", create, methods=["POST"]),
            Route("/api/v1/gpt_image_2/text_to_image/{task_id}", status, methods=["GET"]),
            Route("/img/{name}", image, methods=["GET"]),
        ]
    )


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[tuple[str, Probe, dict[str, str]]]:
    """The stand-in's base URL, the probe, and the scenario -> image URL table (filled once ports are known)."""
    probe = Probe()
    urls: dict[str, str] = {}
    probe_app = Starlette(routes=[Route("/{path:path}", probe.endpoint)])
    base = http_settings(tmp_path, refused_url())
    async with running_http_app(probe_app, base) as probe_url, running_http_app(stand_in(urls), base) as api_url:
        probe_port = probe_url.rsplit(":", 1)[1]
        urls.update(
            {
                "ok": f"{api_url}/img/ok.png",
                "other-port": f"{probe_url}/x.png",
                "localhost-other-port": f"http://localhost:{probe_port}/x.png",
                "redirect-private": f"{api_url}/img/hop",
                "to-hop": f"{probe_url}/x.png",
                "redirect-metadata": f"{api_url}/img/meta",
                "to-meta": "http://169.254.169.254/latest/meta-data/",
                "metadata": "http://169.254.169.254/latest/meta-data/",
                "file": "file:///etc/passwd",
                "ftp": f"ftp://127.0.0.1:{probe_port}/x.png",
                "html": f"{api_url}/img/page",
                "json": f"{api_url}/img/json",
                "huge": f"{api_url}/img/huge",
                "declared-huge": f"{api_url}/img/declared-huge",
                "stall": f"{api_url}/img/stall",
                "trickle": f"{api_url}/img/trickle",
            }
        )
        yield api_url, probe, urls


def running_http_app(app: Starlette, settings: Settings) -> Any:
    """Serve any ASGI app the way running_http serves ours (loopback, a free port)."""

    class _Plain:
        def streamable_http_app(self, **_: Any) -> Starlette:
            return app

    return running_http(_Plain(), settings)  # type: ignore[arg-type]


REFUSED = {
    "other-port": "loopback",
    "localhost-other-port": "localhost",
    "redirect-private": "loopback",
    "redirect-metadata": "metadata",
    "metadata": "metadata",
    "file": "http",
    "ftp": "http",
    "html": "text/html",
    "json": "application/json",
    "huge": "larger than",
    "declared-huge": "larger than",
    "stall": "timed out|took longer",
    "trickle": "took longer|timed out",
}


async def test_hostile_result_urls_are_never_fetched_or_saved_and_a_good_one_is(
    tmp_path: Path, servers: tuple[str, Probe, dict[str, str]]
) -> None:
    """Each hostile result URL (REFUSED) is neither fetched nor saved, the good one is, and no request leaves RunAPI."""
    api_url, probe, _ = servers
    settings = http_settings(
        tmp_path,
        api_url,
        RUNAPI_MCP_MAX_DOWNLOAD_MB="1",
        RUNAPI_MCP_TIMEOUT="1",
        RUNAPI_MCP_MAX_RETRIES="0",
        RUNAPI_MCP_PREVIEW="off",
    )
    recorder = RecordingTransport()
    out = settings.working_dir / "runapi-images"
    async with Client(build_server(settings, transport=recorder)) as client:
        good = await client.call_tool("generate_image", {"prompt": "ok"})
        results = {name: await client.call_tool("generate_image", {"prompt": name}) for name in REFUSED}
    saved = Path(good.structured_content["tasks"][0]["images"][0]["path"])
    assert saved.read_bytes() == PNG
    for name, says in REFUSED.items():
        text = text_of(results[name])
        image = results[name].structured_content["tasks"][0]["images"][0]
        assert image.get("path") is None, f"{name}: {text}"
        assert "not saved locally" in text and any(w in text for w in says.split("|")), f"{name}: {text}"
    # Only the good image and its sidecar were written; no partial file is left behind.
    assert sorted(p.name for p in out.iterdir()) == sorted([saved.name, saved.name + ".json"])
    # Every request the server sent went to the configured base URL's own host and port, nowhere else.
    assert probe.hits == 0
    assert {(host, port) for _, host, port, _ in recorder.requests} == {("127.0.0.1", int(api_url.rsplit(":", 1)[1]))}
