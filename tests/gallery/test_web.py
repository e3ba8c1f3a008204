"""The gallery server over a real journal, on loopback: token, read-only, Host check, and no path tricks."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from runapi_mcp.core.journal import ImageRecord, Journal, TaskParams
from runapi_mcp.gallery.cli import gallery_roots, running_gallery
from tests.gallery.helpers import PENDING, PROMPTS, MadeJournal, opened

pytestmark = pytest.mark.anyio


async def hostile_row(journal: Journal, task_id: str, path: str) -> None:
    await journal.record_intent(
        idempotency_key=f"k-{task_id}",
        action="text_to_image",
        params=TaskParams(prompt=f"hostile {task_id}"),
        output_dir=None,
    )
    await journal.attach_task_id(f"k-{task_id}", task_id)
    await journal.update(task_id, status="completed", images=[ImageRecord(index=0, path=path, width=8, height=8)])


async def test_items_list_every_saved_image_newest_first_and_the_pending_task(made: MadeJournal) -> None:
    async with (
        opened(made) as journal,
        running_gallery(journal, gallery_roots(made.settings)) as gallery,
        httpx2.AsyncClient() as http,
    ):
        items = (await http.get(gallery.url + "api/items")).json()["items"]
        assert {i["task_id"] for i in items if i["image_url"]} == set(made.images)
        assert [i["task_id"] for i in items if i["pending"]] == [made.pending_task]
        assert items[0]["prompt"] == PENDING  # newest first
        assert sum(i["prompt"] == PROMPTS[1] for i in items) == 2
        for item in items:
            if item["image_url"]:
                body = (await http.get(gallery.url + item["image_url"])).content
                assert body == made.images[item["task_id"]].read_bytes()
                thumb = await http.get(gallery.url + item["thumb_url"])
                assert thumb.headers["content-type"] == "image/jpeg" and len(thumb.content) < len(body)
                assert item["reference"] == f"task:{item['task_id']}" and item["cost_usd"] == 0.06


async def test_without_the_token_or_with_a_wrong_one_nothing_is_served(made: MadeJournal) -> None:
    async with opened(made) as journal, running_gallery(journal, gallery_roots(made.settings)) as gallery:
        assert len(gallery.token) >= 43  # 32 random bytes: 256 bits
        origin = gallery.url.removesuffix(f"{gallery.token}/")
        wrong = gallery.token[:-1] + ("A" if gallery.token[-1] != "A" else "B")
        async with httpx2.AsyncClient() as http:
            assert (await http.get(gallery.url)).status_code == 200
            for path in ("", "api/items", f"{wrong}/api/items", f"{wrong}/", f"{gallery.token[:20]}/api/items"):
                response = await http.get(origin + path)
                assert response.status_code == 404 and "access token" in response.text
                assert "prompt" not in response.text


async def test_read_only_loopback_host_only_and_safe_headers(made: MadeJournal) -> None:
    async with (
        opened(made) as journal,
        running_gallery(journal, gallery_roots(made.settings)) as gallery,
        httpx2.AsyncClient() as http,
    ):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert (await http.request(method, gallery.url + "api/items")).status_code == 405
        rebound = await http.get(gallery.url + "api/items", headers={"Host": "attacker.example:80"})
        assert rebound.status_code == 421
        page = await http.get(gallery.url)
        assert (
            page.headers["referrer-policy"] == "no-referrer"
            and "default-src 'none'" in page.headers["content-security-policy"]
        )
        assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"


async def test_path_tricks_in_the_address_or_the_journal_never_reach_a_file(made: MadeJournal, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(next(iter(made.images.values())).read_bytes())
    link = made.settings.working_dir / "runapi-images" / "link.png"
    link.symlink_to(secret)
    async with opened(made) as journal, running_gallery(journal, gallery_roots(made.settings)) as gallery:
        await hostile_row(journal, "outside", str(secret))
        await hostile_row(journal, "climb", str(made.settings.working_dir / "runapi-images" / ".." / ".." / "x.png"))
        await hostile_row(journal, "symlink", str(link))
        await hostile_row(journal, "relative", "secret.png")
        await _no_tricks(gallery, made)


async def _no_tricks(gallery: Any, made: MadeJournal) -> None:
    async with httpx2.AsyncClient() as http:
        items = {i["task_id"]: i for i in (await http.get(gallery.url + "api/items")).json()["items"]}
        for task_id in ("outside", "climb", "symlink", "relative"):
            assert items[task_id]["image_url"] is None and items[task_id]["unavailable"]
            for kind in ("image", "thumb"):
                response = await http.get(f"{gallery.url}{kind}/{task_id}/0")
                assert response.status_code == 404 and "cannot be shown" in response.text
        some = next(iter(made.images))
        for path in (
            f"image/..%2F..%2F{some}/0",
            f"image/{some}%2F0/0",
            "image/%2Fetc%2Fpasswd/0",
            f"image/{some}/0%2F..",
            f"..%2F{gallery.token}/api/items",
            f"image/{some}/-1",
            "image/..%2f..%2fsecret.png/0",
            "static/../../etc/passwd",
        ):
            response = await http.get(gallery.url + path)
            assert response.status_code == 404, path
            assert not response.content.startswith(b"\x89PNG"), path


async def test_gallery_command_prints_a_tokened_loopback_address_and_serves_it(made: MadeJournal) -> None:
    await anyio.to_thread.run_sync(_command_serves, made)


def _command_serves(made: MadeJournal) -> None:
    env = {
        "RUNAPI_MCP_STATE_DIR": str(made.settings.state_dir),
        "HOME": str(made.settings.working_dir.parent / "home"),
        "PATH": "/usr/bin:/bin",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "runapi_mcp", "gallery"],
        cwd=made.settings.working_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"Gallery: (http://127\.0\.0\.1:\d+/([A-Za-z0-9_-]{43,})/)\n", line)
        assert match, line
        items = httpx2.get(match.group(1) + "api/items", timeout=10).json()["items"]
        assert {i["task_id"] for i in items if i["image_url"]} == set(made.images)
    finally:
        process.terminate()
        process.communicate(timeout=10)  # waits, and closes the pipes


def test_gallery_command_without_a_journal_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runapi_mcp", "gallery"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"RUNAPI_MCP_STATE_DIR": str(tmp_path / "none"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1 and "no task journal" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


async def test_open_flag_hands_the_tokened_address_to_the_default_browser(made: MadeJournal, tmp_path: Path) -> None:
    await anyio.to_thread.run_sync(_open_flag_opens, made, tmp_path)


def _open_flag_opens(made: MadeJournal, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "fake-browser.py"
    fake_browser.write_text(f"import sys, pathlib\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n")
    env = {
        "RUNAPI_MCP_STATE_DIR": str(made.settings.state_dir),
        "HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
        # Python's webbrowser runs $BROWSER (with %s for the address) as the user's default browser.
        "BROWSER": f"{sys.executable} {fake_browser} %s",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "runapi_mcp", "gallery", "--open"],
        cwd=made.settings.working_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().removeprefix("Gallery: ").strip()
        for _ in range(200):
            if opened.exists() and opened.read_text():
                break
            time.sleep(0.05)
        assert opened.read_text() == url and url.startswith("http://127.0.0.1:")
    finally:
        process.terminate()
        process.communicate(timeout=10)  # waits, and closes the pipes


async def test_a_port_in_use_is_a_one_line_error(made: MadeJournal) -> None:
    await anyio.to_thread.run_sync(_port_in_use, made)


def _port_in_use(made: MadeJournal) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "runapi_mcp", "gallery", "--port", str(port)],
            cwd=made.settings.working_dir,
            env={
                "RUNAPI_MCP_STATE_DIR": str(made.settings.state_dir),
                "HOME": str(made.settings.working_dir),
                "PATH": "/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


async def test_a_tenants_task_from_a_shared_server_is_not_listed_or_served(made: MadeJournal) -> None:
    some = next(iter(made.images.values()))
    async with opened(made) as journal, running_gallery(journal, gallery_roots(made.settings)) as gallery:
        await journal.record_intent(
            idempotency_key="k-tenant",
            action="text_to_image",
            params=TaskParams(prompt="a tenant's secret"),
            output_dir=None,
            owner="3f9a0c1d2e4b5a69",
        )
        await journal.attach_task_id("k-tenant", "tenant-task", owner="3f9a0c1d2e4b5a69")
        await journal.update("tenant-task", status="completed", images=[ImageRecord(index=0, path=str(some))])
        async with httpx2.AsyncClient() as http:
            listing = (await http.get(gallery.url + "api/items")).text
            assert "tenant-task" not in listing and "a tenant's secret" not in listing
            assert (await http.get(gallery.url + "image/tenant-task/0")).status_code == 404
