"""A count=4 call whose four results are decompression bombs completes: saved, reported, never decoded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from PIL import PngImagePlugin

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from tests.server.helpers import make_settings, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.02, balance_cents=10_000, status_retry_after=0.01)) as sb:
        yield sb


async def test_four_bomb_results_complete_with_files_urls_and_a_note_and_none_is_decoded(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[tuple[int, int]] = []
    real_load = PngImagePlugin.PngImageFile.load

    def load(self: PngImagePlugin.PngImageFile):  # type: ignore[no-untyped-def]
        if self.tile:
            decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", load)
    async with httpx2.AsyncClient() as http:
        fault = {"fault": "huge-image;shape=bomb;side=9000", "method": "GET", "path": "/files/*", "count": 4}
        (await http.post(f"{sandbox.url}/_sandbox/faults", json={"faults": [fault]})).raise_for_status()
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_POLL_INITIAL_SECONDS="0.05")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("generate_image", {"prompt": "a quiet harbour", "count": 4})
    text = text_of(result)
    assert not result.is_error, text
    tasks = result.structured_content["tasks"]  # type: ignore[index]
    assert [task["status"] for task in tasks] == ["completed"] * 4, text
    for task in tasks:
        (image,) = task["images"]
        assert image["url"] and image["path"] and Path(image["path"]).is_file(), image
        assert (image["width"], image["height"]) == (9000, 9000)
    assert text.count("No preview: at 9000x9000") == 4, text
    assert not [block for block in result.content if block.type == "image"]
    assert [size for size in decoded if size[0] * size[1] > 1_000_000] == []  # no bomb decoded, not even once
    assert sandbox.state.injected["huge-image"] == 4
