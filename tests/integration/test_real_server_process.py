"""The installed server as a real subprocess, over stdio and over streamable HTTP, against the sandbox."""

from __future__ import annotations

import base64
import io
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import BlobResourceContents, ImageContent, ResourceLink
from PIL import Image

from runapi_mcp.sandbox import SandboxThread
from tests.support.environments import project_dir, server_process_env
from tests.support.mcp_http import text_of
from tests.support.processes import http_server_process, stdio_params

pytestmark = pytest.mark.anyio


@contextmanager
def http_server(tmp_path: Path, sandbox: SandboxThread) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The server subprocess on streamable HTTP (port 0); yields its /mcp URL and the process."""
    with http_server_process(tmp_path, server_process_env(tmp_path, sandbox.url)) as (url, process):
        yield f"{url}/mcp", process


async def exercise_generate_and_edit(client: Client, tmp_path: Path) -> None:
    result = await client.call_tool(
        "generate_image", {"prompt": "a paper crane", "aspect_ratio": "2:3", "output_resolution": "2k"}
    )
    assert not result.is_error, text_of(result)
    task = result.structured_content["tasks"][0]
    path = Path(task["images"][0]["path"])
    with Image.open(path) as png:
        width, height = png.size
    assert png.format == "PNG" and abs(width / height - 2 / 3) < 0.02 and max(width, height) in range(1900, 2200)
    previews = [c for c in result.content if isinstance(c, ImageContent)]
    assert len(previews) == 1
    preview_bytes = base64.b64decode(previews[0].data)
    assert max(Image.open(io.BytesIO(preview_bytes)).size) <= 512 and len(preview_bytes) < 120_000
    (link,) = [c for c in result.content if isinstance(c, ResourceLink)]
    blob = (await client.read_resource(str(link.uri))).contents[0]
    assert isinstance(blob, BlobResourceContents) and base64.b64decode(blob.blob) == path.read_bytes()

    Image.new("RGB", (80, 80), (10, 120, 240)).save(project_dir(tmp_path) / "source.png")
    local = await client.call_tool("edit_image", {"prompt": "add a sun", "images": ["source.png"]})
    assert not local.is_error, text_of(local)
    chained = await client.call_tool("edit_image", {"prompt": "night", "images": [f"task:{task['task_id']}"]})
    assert not chained.is_error, text_of(chained)
    assert chained.structured_content["tasks"][0]["status"] == "completed"


async def test_stdio_subprocess_generates_saves_previews_links_and_edits(
    tmp_path: Path, sandbox: SandboxThread
) -> None:
    """The real stdio process runs generate (file, preview, resource link) and both kinds of edit end to end."""
    params = stdio_params(project_dir(tmp_path), server_process_env(tmp_path, sandbox.url))
    async with Client(params, read_timeout_seconds=60) as client:
        await exercise_generate_and_edit(client, tmp_path)


async def test_streamable_http_subprocess_generates_saves_previews_links_and_edits(
    tmp_path: Path, sandbox: SandboxThread
) -> None:
    """The real HTTP process (port 0) runs the same generate-and-edit loop, and answers its health check."""
    with http_server(tmp_path, sandbox) as (url, _):
        async with Client(url, read_timeout_seconds=60) as client:
            await exercise_generate_and_edit(client, tmp_path)
        health = httpx2.get(url.replace("/mcp", "/healthz"))
    assert health.json() == {"status": "ok"}


def journaled_task_id(tmp_path: Path) -> str | None:
    """The task id the server's journal holds for its one task, once it has one."""
    try:
        journal = (tmp_path / "state" / "journal.sqlite3").as_uri()
        with closing(sqlite3.connect(f"{journal}?mode=ro", uri=True)) as conn:  # read-only: never creates it
            row = conn.execute("SELECT task_id FROM tasks").fetchone()
    except sqlite3.OperationalError:  # not created yet
        return None
    return row[0] if row else None


async def test_server_killed_after_create_resumes_the_task_after_restart_charged_once(
    tmp_path: Path, sandbox: SandboxThread
) -> None:
    """A server killed (SIGKILL) mid-generate finds the task in its journal on restart and finishes it, charged once."""

    def ledger() -> dict[str, Any]:
        return httpx2.get(f"{sandbox.url}/_sandbox/ledger").json()

    httpx2.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"faults": [{"fault": "slow;seconds=3", "method": "POST", "path": "/api/v1/gpt_image_2/*", "count": 1}]},
    )
    with http_server(tmp_path, sandbox) as (url, process):

        async def call_until_killed() -> None:
            try:
                async with Client(url, read_timeout_seconds=30) as client:
                    await client.call_tool("generate_image", {"prompt": "survive a crash"})
            except Exception:
                pass  # the server dies under this call: that is the point

        async with anyio.create_task_group() as tg:
            tg.start_soon(call_until_killed)
            deadline = time.monotonic() + 15
            # Killed once the create is answered and journaled, while the call waits for the image.
            while ledger()["totals"]["tasks"] < 1 or journaled_task_id(tmp_path) is None:
                assert time.monotonic() < deadline, "the create never reached the sandbox and the journal"
                await anyio.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            process.wait()
            tg.cancel_scope.cancel()

    with http_server(tmp_path, sandbox) as (url, _):
        async with Client(url, read_timeout_seconds=30) as client:
            listing = text_of(await client.call_tool("list_tasks", {}))
            task_id = ledger()["tasks"][0]["id"]
            assert task_id in listing and "survive a crash" in listing
            done = await client.call_tool("get_task", {"task_id": task_id, "wait": True})
    assert done.structured_content["tasks"][0]["status"] == "completed", text_of(done)
    final = ledger()
    assert final["totals"]["tasks"] == 1 and final["tasks"][0]["charges"] == 1
