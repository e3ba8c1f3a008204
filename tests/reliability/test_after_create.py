"""A created (charged) task is never reported as failed or uncreated, whatever fails after the create.

Each test runs our server (in memory) against the sandbox on loopback, with the sandbox's fault queue
making the step after the create fail; the sandbox's ledger is the proof of what was charged.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from tests.server.helpers import make_settings, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

CREATES = "/api/v1/gpt_image_2/*"
_KEY = re.compile(r"idempotency_key '([^']+)'")
_TASK = re.compile(r"task_id '([^']+)'")


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.02, balance_cents=10_000, status_retry_after=0.01)) as sb:
        yield sb


async def queue(sandbox: RunningSandbox, *specs: str, path: str = CREATES, method: str = "POST") -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{sandbox.url}/_sandbox/faults",
            json={"faults": [{"fault": spec, "method": method, "path": path, "count": 1} for spec in specs]},
        )
        response.raise_for_status()


def charged_tasks(sandbox: RunningSandbox) -> int:
    return len(sandbox.state.tasks)


def structured(result: Any) -> dict[str, Any]:
    data = result.structured_content
    assert isinstance(data, dict), text_of(result)
    return data  # pyright: ignore[reportUnknownVariableType]


def journal_rows(tmp_path: Path) -> list[tuple[str, str | None, str, str]]:
    import sqlite3

    with sqlite3.connect(tmp_path / "state" / "journal.sqlite3") as db:
        return db.execute(
            "SELECT idempotency_key, task_id, status, images FROM tasks ORDER BY idempotency_key"
        ).fetchall()


def image_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "project").rglob("*") if p.suffix in (".png", ".jpg"))


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
@pytest.mark.parametrize("count", [1, 4])
async def test_an_undecodable_result_image_is_reported_with_its_task_id_and_saved_once(
    tmp_path: Path, sandbox: RunningSandbox, fmt: str, count: int
) -> None:
    await queue(sandbox, *[f"bad-image;format={fmt}"] * count)
    settings = make_settings(tmp_path, sandbox.url)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "count": count})
        assert not result.is_error, text_of(result)
        tasks = structured(result)["tasks"]
        assert len(tasks) == count
        assert all(t["task_id"] and t["status"] == "completed" for t in tasks), tasks
        files = image_files(tmp_path)
        assert len(files) == count
        rows = journal_rows(tmp_path)
        assert all(status == "completed" and task_id for _, task_id, status, _ in rows), rows
        again = await client.call_tool("get_task", {"task_id": tasks[0]["task_id"]})
        assert not again.is_error, text_of(again)
        assert image_files(tmp_path) == files  # no second copy
    assert charged_tasks(sandbox) == count


async def test_a_sidecar_that_cannot_be_written_does_not_fail_the_task(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runapi_mcp.core.saving as saving

    def refuse(*_: object, **__: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(saving, "write_sidecar", refuse)
    settings = make_settings(tmp_path, sandbox.url)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox"})
        assert not result.is_error, text_of(result)
        task = structured(result)["tasks"][0]
        assert task["task_id"] and task["status"] == "completed"
        files = image_files(tmp_path)
        assert len(files) == 1
        assert journal_rows(tmp_path)[0][2] == "completed"
        again = await client.call_tool("get_task", {"task_id": task["task_id"]})
        assert not again.is_error
        assert image_files(tmp_path) == files


@pytest.mark.parametrize("shape", ["html", "json", "no-id"])
@pytest.mark.parametrize("key", [None, "logo#v2"])
async def test_an_unexpected_create_body_keeps_the_key_and_following_the_hint_pays_once(
    tmp_path: Path, sandbox: RunningSandbox, shape: str, key: str | None
) -> None:
    await queue(sandbox, f"bad-body;shape={shape}")
    settings = make_settings(tmp_path, sandbox.url)
    args: dict[str, Any] = {"prompt": "a fox"}
    if key is not None:
        args["idempotency_key"] = key
    async with Client(build_server(settings)) as client:
        first = await client.call_tool("generate_image", args)
        text = text_of(first)
        found = _KEY.search(text)
        assert found, text
        if key is not None:
            assert found.group(1) == key
        assert "rejected" not in text and "generate_image" in text
        assert charged_tasks(sandbox) == 1  # the create did make (and charge) a task
        second = await client.call_tool("generate_image", {"prompt": "a fox", "idempotency_key": found.group(1)})
        assert not second.is_error, text_of(second)
        assert structured(second)["tasks"][0]["status"] == "completed"
    assert charged_tasks(sandbox) == 1


@pytest.mark.parametrize("fault", ["bad-body;shape=html", "lost-response", "503"])
async def test_the_hint_of_a_count_4_call_names_the_callers_key_with_its_hash(
    tmp_path: Path, sandbox: RunningSandbox, fault: str
) -> None:
    await queue(sandbox, "none", fault, "none", "none")
    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_MAX_RETRIES="0")
    async with Client(build_server(settings)) as client:
        args = {"prompt": "a fox", "count": 4, "idempotency_key": "logo#v2"}
        first = await client.call_tool("generate_image", args)
        text = json.dumps(structured(first)) + text_of(first)
        keys = set(_KEY.findall(text))
        assert keys == {"logo#v2"}, text
        made = charged_tasks(sandbox)
        second = await client.call_tool("generate_image", args)
        tasks = structured(second)["tasks"]
        assert [t["status"] for t in tasks] == ["completed"] * 4, text_of(second)
    assert charged_tasks(sandbox) == 4 >= made


@pytest.mark.parametrize("count", [1, 4])
async def test_a_failure_after_the_create_reports_the_task_by_its_id_never_as_rejected(
    tmp_path: Path, sandbox: RunningSandbox, count: int
) -> None:
    await queue(sandbox, "400", path="/api/v1/gpt_image_2/*/*", method="GET")
    settings = make_settings(tmp_path, sandbox.url)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "count": count})
        tasks = structured(result)["tasks"]
        assert all(t["task_id"] for t in tasks), tasks
        assert "rejected" not in [t["status"] for t in tasks]
        stuck = [t for t in tasks if t["status"] != "completed"]
        assert len(stuck) == 1 and _TASK.search(text_of(result)), text_of(result)
        again = await client.call_tool("get_task", {"task_id": stuck[0]["task_id"], "wait": True})
        assert structured(again)["tasks"][0]["status"] == "completed", text_of(again)
    assert charged_tasks(sandbox) == count


def _journal_refuses(monkeypatch: pytest.MonkeyPatch, method: str, *, status: str | None = None) -> None:
    """The journal's `method` fails as a full disk would (for `update`, only writes of `status`)."""
    from runapi_mcp.core.errors import JournalError
    from runapi_mcp.core.journal.tasks import Journal

    real = getattr(Journal, method)

    async def refuse(self: Journal, *args: Any, **kwargs: Any) -> Any:
        if status is None or kwargs.get("status") == status:
            raise JournalError("database or disk is full")
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(Journal, method, refuse)


@pytest.mark.parametrize("count", [1, 4])
async def test_a_journal_that_cannot_record_the_task_id_still_reports_each_created_task_with_its_images(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    _journal_refuses(monkeypatch, "attach_task_id")
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "count": count})
    assert not result.is_error, text_of(result)
    tasks = structured(result)["tasks"]
    assert [t["status"] for t in tasks] == ["completed"] * count, text_of(result)
    assert {t["task_id"] for t in tasks} == set(sandbox.state.tasks)
    assert len(image_files(tmp_path)) == count
    assert text_of(result).count("Note: The task journal could not record this task") == count
    assert charged_tasks(sandbox) == count


async def test_a_journal_that_cannot_record_completion_still_returns_the_saved_image_and_get_task_reuses_it(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _journal_refuses(monkeypatch, "update", status="completed")
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox"})
        assert not result.is_error, text_of(result)
        task = structured(result)["tasks"][0]
        assert task["status"] == "completed" and task["images"][0]["path"], text_of(result)
        assert any("could not record" in note for note in structured(result)["notes"])
        files = image_files(tmp_path)
        again = await client.call_tool("get_task", {"task_id": task["task_id"]})
        assert not again.is_error, text_of(again)
        assert structured(again)["tasks"][0]["status"] == "completed"
        assert image_files(tmp_path) == files  # the same file, not a second copy
    assert charged_tasks(sandbox) == 1
