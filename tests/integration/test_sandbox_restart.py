"""`runapi-mcp --sandbox` and `runapi-mcp sandbox` as real processes, killed and started again on the same
state folder: tasks, result URLs, idempotency keys and the balance are still there afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from tests.support.environments import child_env, project_dir
from tests.support.mcp_http import text_of
from tests.support.processes import START_TIMEOUT_SECONDS, stop_process

pytestmark = pytest.mark.anyio

LATENCY_SECONDS = 2.0


def sandbox_env(tmp_path: Path) -> dict[str, str]:
    return child_env(
        tmp_path,
        RUNAPI_MCP_STATE_DIR=str(tmp_path / "state"),
        RUNAPI_MCP_SANDBOX_LATENCY=str(LATENCY_SECONDS),
        RUNAPI_MCP_WAIT_SECONDS="20",
        RUNAPI_MCP_POLL_INITIAL_SECONDS="0.05",
        RUNAPI_MCP_POLL_MAX_SECONDS="0.2",
    )


def server_pid(state_dir: Path) -> int:
    """The `runapi-mcp --sandbox` child the SDK started: the one process whose environment names `state_dir`."""
    marker = f"RUNAPI_MCP_STATE_DIR={state_dir}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    assert len(found) == 1, f"expected one server process, found {found}"
    return found[0]


@asynccontextmanager
async def sandbox_server(tmp_path: Path, *, kill: bool = False) -> AsyncIterator[Client]:
    """`runapi-mcp --sandbox` over stdio; with `kill`, SIGKILLed when the block ends instead of stopped."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "runapi_mcp", "--sandbox"],
        env=sandbox_env(tmp_path),
        cwd=str(project_dir(tmp_path)),
    )
    with anyio.CancelScope() as scope:
        async with Client(params, read_timeout_seconds=60) as client:
            yield client
            if kill:
                os.kill(server_pid(tmp_path / "state"), signal.SIGKILL)
                scope.cancel()  # the session's reader sees a dead pipe: no clean goodbye to wait for


def origin_of(url: str) -> str:
    parts = httpx2.URL(url)
    return f"{parts.scheme}://{parts.host}:{parts.port}"


def sandbox_ledger(image_url: str) -> dict[str, Any]:
    """The account as the sandbox keeps it (`GET /_sandbox/ledger` on the origin of one of its URLs)."""
    return httpx2.get(origin_of(image_url) + "/_sandbox/ledger").json()


async def test_a_task_pending_when_the_server_is_killed_completes_after_a_restart_and_is_saved(tmp_path: Path) -> None:
    """Killed while the task runs, down past its done time: the next server finishes it on its original
    schedule, get_task saves its image. On a sandbox kept only in memory the task is unknown after the restart."""
    async with sandbox_server(tmp_path, kill=True) as client:
        created = await client.call_tool("generate_image", {"prompt": "a red kite", "wait": False})
        assert not created.is_error, text_of(created)
        task = created.structured_content["tasks"][0]
        assert task["status"] in ("pending", "processing"), text_of(created)
        created_at = time.monotonic()
    await anyio.sleep(max(0.0, created_at + LATENCY_SECONDS + 0.5 - time.monotonic()))

    async with sandbox_server(tmp_path) as client:
        done = await client.call_tool("get_task", {"task_id": task["task_id"], "wait": False})
        assert not done.is_error, text_of(done)
        again = done.structured_content["tasks"][0]
        assert again["status"] == "completed", text_of(done)
        saved = Path(again["images"][0]["path"])
        assert saved.is_file() and saved.read_bytes().startswith(b"\x89PNG"), text_of(done)


async def test_a_result_url_given_before_a_restart_still_downloads_the_same_image(tmp_path: Path) -> None:
    """The sandbox binds the port it saved, and rebuilds the output from the saved task: the URL in the
    result before the restart serves the same bytes after it (in memory, the port and the file were gone)."""
    async with sandbox_server(tmp_path) as client:
        result = await client.call_tool("generate_image", {"prompt": "a blue bicycle", "aspect_ratio": "16:9"})
        assert not result.is_error, text_of(result)
        url = result.structured_content["tasks"][0]["images"][0]["url"]
        before = httpx2.get(url)
        assert before.status_code == 200
        assert url in text_of(result) and "expires" in text_of(result)

    async with sandbox_server(tmp_path) as client:
        await client.list_tools()  # started: its sandbox is serving
        after = httpx2.get(url)
        assert after.status_code == 200 and after.content == before.content
        assert "no longer work" not in text_of(await client.call_tool("list_tasks", {}))


async def test_a_create_replayed_with_its_key_after_a_kill_is_the_same_task_charged_once(tmp_path: Path) -> None:
    """The same generate with the same idempotency_key, sent to the restarted server, follows the task made
    before the kill: one task in the sandbox's ledger, one charge."""
    call = {"prompt": "a green lantern", "idempotency_key": "lantern-1", "wait": False}
    async with sandbox_server(tmp_path, kill=True) as client:
        first = await client.call_tool("generate_image", call)
        assert not first.is_error, text_of(first)
        task_id = first.structured_content["tasks"][0]["task_id"]

    async with sandbox_server(tmp_path) as client:
        again = await client.call_tool("generate_image", {**call, "wait": True})
        assert not again.is_error, text_of(again)
        task = again.structured_content["tasks"][0]
        assert task["task_id"] == task_id and task["status"] == "completed", text_of(again)
        ledger = sandbox_ledger(task["images"][0]["url"])
    assert ledger["totals"]["tasks"] == 1
    assert [t["charges"] for t in ledger["tasks"]] == [1]
    assert ledger["totals"]["charged_cents"] == ledger["tasks"][0]["price_cents"]
    assert ledger["totals"]["balance_cents"] == ledger["totals"]["funded_cents"] - ledger["tasks"][0]["price_cents"]


async def test_a_sandbox_whose_saved_port_is_taken_says_in_its_results_that_old_urls_no_longer_work(
    tmp_path: Path,
) -> None:
    """The one case the old URLs cannot survive: the result says so, instead of letting "expires" stand alone."""
    async with sandbox_server(tmp_path) as client:
        result = await client.call_tool("generate_image", {"prompt": "a yellow boat"})
        url = result.structured_content["tasks"][0]["images"][0]["url"]
    port = httpx2.URL(url).port
    assert port is not None
    with socket_on(port):
        async with sandbox_server(tmp_path) as client:
            later = await client.call_tool("generate_image", {"prompt": "a yellow boat at night"})
            assert not later.is_error, text_of(later)
            assert f"port {port} given before no longer work" in text_of(later)
            assert any(f"port {port}" in note for note in later.structured_content["notes"])


@contextmanager
def socket_on(port: int) -> Iterator[None]:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    try:
        yield
    finally:
        holder.close()


@contextmanager
def standalone_sandbox(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`runapi-mcp sandbox --port 0 --persist` on tmp_path/state; yields its URL, the process and its stderr log."""
    log = tmp_path / f"sandbox-{time.monotonic_ns()}.log"
    out = log.with_suffix(".out")
    with open(log, "wb") as err_sink, open(out, "wb") as out_sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "runapi_mcp", "sandbox", "--port", "0", "--latency", "1", "--persist"],
            env=child_env(tmp_path, RUNAPI_MCP_STATE_DIR=str(tmp_path / "state")),
            stdin=subprocess.DEVNULL,
            stdout=out_sink,
            stderr=err_sink,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while "listening on" not in out.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        url = out.read_text().split("listening on ", 1)[1].split()[0]
        yield url, process, log
    finally:
        stop_process(process)


def test_the_standalone_sandbox_killed_right_after_answering_keeps_the_task_its_key_and_an_upload(
    tmp_path: Path,
) -> None:
    """A create is answered only once it is saved: SIGKILL just after the answer, and the restarted sandbox
    (same URL) replays the key to the same task without a second charge, and serves the uploaded file."""
    headers = {"Authorization": "Bearer any-key"}
    body = {"model": "gpt-image-2", "prompt": "a paper boat"}
    with standalone_sandbox(tmp_path) as (url, process, log):
        assert f"Sandbox state: {tmp_path / 'state' / 'sandbox-server.sqlite3'}" in log.read_text()
        upload = httpx2.post(
            f"{url}/api/v1/files",
            json={"source": {"type": "base64", "data": "data:text/plain;base64,aGVsbG8="}, "file_name": "hi.txt"},
            headers=headers,
        ).json()
        created = httpx2.post(
            f"{url}/api/v1/gpt_image_2/text_to_image", json=body, headers={**headers, "Idempotency-Key": "boat-1"}
        ).json()
        process.kill()
        process.wait()

    with standalone_sandbox(tmp_path) as (url_after, _, _):
        assert url_after == url
        replay = httpx2.post(
            f"{url}/api/v1/gpt_image_2/text_to_image", json=body, headers={**headers, "Idempotency-Key": "boat-1"}
        )
        assert replay.json()["id"] == created["id"] and replay.json()["task_replayed"] is True
        assert httpx2.get(upload["url"]).content == b"hello"
        balance = httpx2.get(f"{url}/api/v1/me/balance", headers=headers).json()
        ledger = httpx2.get(f"{url}/_sandbox/ledger").json()
    assert ledger["totals"]["tasks"] == 1
    assert balance["balance_cents"] == ledger["totals"]["funded_cents"] - ledger["tasks"][0]["price_cents"]
