"""Through a real server and the sandbox, on both engines: what the journal keeps of an edit and its images."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import TextResourceContents
from PIL import Image

from runapi_mcp.core.journal import open_journal
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from tests.server.helpers import make_settings, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.05, balance_cents=10_000)) as sb:
        yield sb


def png_data_uri() -> tuple[str, bytes]:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), (200, 30, 30)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode(), data


async def test_an_edit_from_a_data_uri_keeps_its_digest_never_its_payload_and_replays_by_key(
    tmp_path: Path, sandbox: RunningSandbox, database_url: str | None
) -> None:
    uri, data = png_data_uri()
    payload = uri.split(",", 1)[1]
    env = {"RUNAPI_MCP_DATABASE_URL": database_url} if database_url else {}
    settings = make_settings(tmp_path, sandbox.url, **env)
    arguments = {"prompt": "make it blue", "images": [uri], "idempotency_key": "edit-from-data"}
    async with Client(build_server(settings)) as client:
        first = await client.call_tool("edit_image", arguments)
        assert not first.is_error, text_of(first)
        task = first.structured_content["tasks"][0]
        again = await client.call_tool("edit_image", arguments)  # the same key: the same task, not a new charge
        assert not again.is_error, text_of(again)
        assert again.structured_content["tasks"][0]["task_id"] == task["task_id"]
        resource = await client.read_resource(f"runapi://tasks/{task['task_id']}")
    content = resource.contents[0]
    assert isinstance(content, TextResourceContents)
    shown = json.loads(content.text)
    digest = hashlib.sha256(data).hexdigest()
    (source,) = shown["params"]["sources"]
    assert source["reference"] == f"data:image/png;sha256={digest}" and source["sha256"] == digest
    assert source["url"].startswith("http")  # the upload RunAPI fetched
    assert shown["images"][0]["content_type"] == "image/png" and shown["images"][0]["sha256"]

    journal = open_journal(sqlite_path=settings.state_dir / "journal.sqlite3", database_url=database_url)
    row = await journal.get(task["task_id"])
    await journal.close()
    assert row is not None and row.params.sources[0].reference == source["reference"]
    assert payload[:64] not in row.model_dump_json()
    sidecar = Path(task["images"][0]["path"] + ".json")
    assert sidecar.is_file() and payload[:64] not in sidecar.read_text()
    if database_url is None:
        assert payload[:64].encode() not in (settings.state_dir / "journal.sqlite3").read_bytes()
