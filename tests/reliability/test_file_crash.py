"""Images and sidecars appear whole or not at all: written under a temporary name, then renamed."""

from __future__ import annotations

import errno
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from PIL import Image

from runapi_mcp.core import files
from runapi_mcp.core.files import write_sidecar
from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.server import build_server
from tests.support.environments import child_env, server_settings
from tests.support.mcp_http import text_of
from tests.support.sandboxes import sandbox_in_loop

DOWNLOADER = r"""
import sys
from pathlib import Path

import anyio
import httpx2

from runapi_mcp.core.download import download_to


async def main() -> None:
    async with httpx2.AsyncClient() as http:
        await download_to(http, sys.argv[1], Path(sys.argv[2]), max_bytes=64 << 20, timeout=60,
                          allow_hosts=("127.0.0.1",))


anyio.run(main)
"""


def png_bytes(side: int = 600) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((side, side), 64).convert("RGB").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def stalling_image_server() -> Iterator[tuple[str, threading.Event, threading.Event]]:
    """Serves a PNG that stops halfway; yields its URL, an event set once half is sent, and one to release it."""
    body = png_bytes()
    half_sent, release = threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            half_sent.set()
            release.wait(30)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/image.png", half_sent, release
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_download_killed_midway_leaves_no_file_under_the_final_name(
    tmp_path: Path, stalling_image_server: tuple[str, threading.Event, threading.Event]
) -> None:
    """A download process killed mid-body leaves only a hidden .part file, never a partial image or its sidecar."""
    url, half_sent, _ = stalling_image_server
    out = tmp_path / "images"
    out.mkdir()
    dest = out / "20260101-120000-task-0.png"
    process = subprocess.Popen(
        [sys.executable, "-c", DOWNLOADER, url, str(dest)],
        env=child_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert half_sent.wait(30), "the download never started"
        deadline = time.monotonic() + 10
        while not any(p.name.endswith(".part") for p in out.iterdir()):  # it is writing its temporary file
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    left = sorted(p.name for p in out.iterdir())
    assert not dest.exists() and not dest.with_suffix(".png.json").exists()
    assert left and all(name.startswith(".") and name.endswith(".part") for name in left), left


def test_sidecar_write_that_fails_midway_leaves_the_old_sidecar_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes(8))
    first = write_sidecar(image, {"task_id": "t1", "prompt": "first"})
    before = first.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_sidecar(image, {"task_id": "t1", "prompt": "second " * 1000})
    assert first.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.png.json"]


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with sandbox_in_loop(latency=0.05) as sb:
        yield sb


@pytest.mark.anyio
async def test_generated_image_and_sidecar_arrive_by_rename_from_a_hidden_temporary_file(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both the image and its sidecar are renamed into place from hidden temporary files in the same folder."""
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any, **dir_fds: Any) -> None:
        # Results are renamed by name inside their open folder (src_dir_fd/dst_dir_fd), so names are compared.
        renames.append((Path(src).name, Path(dst).name))
        real_replace(src, dst, **dir_fds)

    monkeypatch.setattr(files.os, "replace", spy)
    async with Client(build_server(server_settings(tmp_path, sandbox.url))) as client:
        result = await client.call_tool("generate_image", {"prompt": "atomic"})
    assert not result.is_error, text_of(result)
    image = Path(result.structured_content["tasks"][0]["images"][0]["path"])
    sidecar = image.with_name(image.name + ".json")
    by_dest = {dst: src for src, dst in renames}
    for final, suffix in ((image, ".part"), (sidecar, ".tmp")):
        src = by_dest[final.name]
        assert src.startswith(".") and src.endswith(suffix)
        assert not (final.parent / src).exists()
    assert sorted(p.name for p in image.parent.iterdir()) == sorted([image.name, sidecar.name])
