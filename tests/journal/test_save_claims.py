"""Servers sharing one journal save each result image once: the journal's save claims, on both engines.

Real processes (tests/support/save_worker.py, each with its own journal connection) download from a real
HTTP server on loopback that counts the downloads.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import httpx2
import pytest
from PIL import Image

from runapi_mcp.core.config import CoreConfig
from runapi_mcp.core.folders import OutputFolder
from runapi_mcp.core.journal import ImageRecord, Journal, TaskParams, migrations, open_journal, sqlite_journal
from runapi_mcp.core.saving import ResultSaver
from runapi_mcp.core.types import Cost, TaskRun
from tests.journal.conftest import Clock, OpenJournal

pytestmark = pytest.mark.anyio
WORKER = Path(__file__).resolve().parents[1] / "support" / "save_worker.py"
TASK = "task-claims-0001"


class ImageHost:
    """Serves one small PNG per path, each answer held `delay` seconds, and counts the downloads."""

    def __init__(self, delay: float) -> None:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (10, 120, 200)).save(buffer, format="PNG")
        body, host = buffer.getvalue(), self
        self.delay = delay
        self.downloads: list[str] = []
        self.first_download = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.downloads.append(self.path)
                host.first_download.set()
                time.sleep(host.delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed mid-download
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def urls(self, count: int) -> list[str]:
        return [f"http://{self.host}/img/{i}.png" for i in range(count)]


@pytest.fixture
def image_host() -> Iterator[ImageHost]:
    host = ImageHost(delay=0.6)
    yield host
    host.server.shutdown()
    host.server.server_close()


def start_worker(args: dict[str, object]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(WORKER.parents[2])},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY", proc.stderr.read() if proc.stderr else ""
    return proc


def image_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and p.suffix == ".png")


async def test_two_processes_following_one_task_save_each_image_once_and_name_the_same_files(
    tmp_path: Path, database_url: str | None, image_host: ImageHost
) -> None:
    out = tmp_path / "images"
    out.mkdir()
    args: dict[str, object] = {
        "sqlite": str(tmp_path / "state" / "journal.sqlite3"),
        "database_url": database_url,
        "out": str(out),
        "urls": image_host.urls(4),
        "task_id": TASK,
        "host": image_host.host,
        "lease": 15.0,
    }
    # Both open the journal first, then start saving at the same moment.
    first = start_worker(args | {"start_at": time.time() + 3.0})
    second = start_worker(args | {"start_at": time.time() + 2.5})
    results = []
    for proc in (first, second):
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    paths = [[image["path"] for image in result] for result in results]
    assert all(paths[0]) and paths[0] == paths[1], results
    assert len(image_files(out)) == 4, image_files(out)
    assert sorted(image_host.downloads) == sorted(f"/img/{i}.png" for i in range(4))  # one download each


async def test_a_saver_killed_mid_download_does_not_block_the_image_the_next_one_takes_over(
    tmp_path: Path, database_url: str | None, image_host: ImageHost
) -> None:
    out = tmp_path / "images"
    out.mkdir()
    image_host.delay = 30.0  # the first process never finishes its download
    victim = start_worker(
        {
            "sqlite": str(tmp_path / "state" / "journal.sqlite3"),
            "database_url": database_url,
            "out": str(out),
            "urls": image_host.urls(1),
            "task_id": TASK,
            "host": image_host.host,
            "lease": 1.5,
            "start_at": time.time(),
        }
    )
    # It holds the claim and is downloading.
    assert await anyio.to_thread.run_sync(image_host.first_download.wait, 20)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    image_host.delay = 0.0

    # The real clock (the store's fixture clock stands still): the dead holder's lease must run out.
    journal = open_journal(sqlite_path=tmp_path / "state" / "journal.sqlite3", database_url=database_url)
    out_config = CoreConfig(base_url=f"http://{image_host.host}", working_dir=out, fallback_output_dir=out)
    run = TaskRun("text_to_image", "k", TaskParams(prompt="p"), OutputFolder(out))
    async with httpx2.AsyncClient() as http:
        saver = ResultSaver(
            http, out_config, allow_hosts=(image_host.host,), sandbox=True, claims=journal.claims, claim_lease=1.5
        )
        try:
            with anyio.fail_after(30):  # at most one lease after the holder died, never for ever
                image = await saver.save(run, TASK, 0, image_host.urls(1)[0], Cost(0.03, "estimated"))
        finally:
            await journal.close()
    assert image.path is not None and image.path.is_file(), image.save_error
    assert image_files(out) == [image.path.name]
    assert len(image_host.downloads) == 2  # the dead one's, and the one that took over


async def test_a_claim_is_given_once_until_its_lease_runs_out_then_taken_over(
    open_store: OpenJournal, clock: Clock
) -> None:
    one, two = open_store().claims, open_store().claims
    assert (await one.claim(TASK, 0, "a", lease=10)).state == "mine"
    held = await two.claim(TASK, 0, "b", lease=10)
    assert held.state == "held" and held.lease_until == clock.now + 10
    assert (await two.claim(TASK, 1, "b", lease=10)).state == "mine"  # another image is another claim
    clock.tick(5)
    assert await one.renew(TASK, 0, "a", lease=10)  # a live holder keeps it
    clock.tick(9)
    assert (await two.claim(TASK, 0, "b", lease=10)).state == "held"
    clock.tick(2)
    assert (await two.claim(TASK, 0, "b", lease=10)).state == "mine"  # a's lease ran out
    assert not await one.renew(TASK, 0, "a", lease=10)  # and a knows it lost it


async def test_the_saved_record_is_what_every_later_claim_sees_and_a_failed_save_frees_the_claim(
    journal: Journal,
) -> None:
    claims = journal.claims
    assert (await claims.claim(TASK, 0, "a", lease=10)).state == "mine"
    await claims.release(TASK, 0, "a")  # the save failed: free at once
    assert (await claims.claim(TASK, 0, "b", lease=10)).state == "mine"
    record = ImageRecord(index=0, url="https://x.test/0.png", path="/tmp/x-0.png", width=64, height=48)
    assert await claims.saved(TASK, 0, "b", record)
    seen = await claims.claim(TASK, 0, "c", lease=10)
    assert seen.state == "saved" and seen.record == record
    assert seen.stored is not None and await claims.reopen(TASK, 0, "c", 10, seen.stored)  # its file was deleted
    assert (await claims.claim(TASK, 0, "d", lease=10)).state == "held"


async def test_saved_claims_are_dropped_a_day_later_so_the_table_does_not_grow_for_ever(
    journal: Journal, clock: Clock
) -> None:
    claims = journal.claims
    record = ImageRecord(index=0, url="https://x.test/0.png", path="/tmp/x-0.png")
    assert (await claims.claim(TASK, 0, "a", lease=10)).state == "mine"
    assert await claims.saved(TASK, 0, "a", record)
    clock.tick(2 * 24 * 3600)
    assert (await claims.claim("another-task", 0, "a", lease=10)).state == "mine"
    assert await claims.saved("another-task", 0, "a", record)
    assert (await claims.claim(TASK, 0, "b", lease=10)).state == "mine"  # the old record is gone


async def test_a_version_3_sqlite_journal_gains_the_save_claims_table_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as conn:
        for statement in (migrations.SQLITE_TABLE, *migrations.INDEXES, *migrations.SQLITE_V3):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO tasks (owner, idempotency_key, task_id, action, params, status, created_at, updated_at) "
            "VALUES ('', 'old', 'task-old', 'text_to_image', ?, 'completed', 1, 1)",
            (TaskParams(prompt="old").model_dump_json(),),
        )
        conn.execute("PRAGMA user_version = 3")
    journal = sqlite_journal(path)
    try:
        assert (row := await journal.get("task-old")) is not None and row.status == "completed"
        assert (await journal.claims.claim("task-old", 0, "a", lease=10)).state == "mine"
    finally:
        await journal.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.SCHEMA_VERSION == 4
