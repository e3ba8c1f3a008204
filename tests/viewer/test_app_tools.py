"""The viewer's app-only tools against the real server and sandbox: full-size bytes, edits, variations."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from runapi_mcp.settings import Settings
from tests.viewer.conftest import Connect

pytestmark = pytest.mark.anyio


def journal_rows(settings: Settings) -> list[tuple[str, str, str]]:
    with sqlite3.connect(settings.state_dir / "journal.sqlite3") as db:
        return db.execute("SELECT idempotency_key, action, params FROM tasks ORDER BY rowid").fetchall()


async def made(client: Any, prompt: str) -> dict[str, Any]:
    result = await client.call_tool("generate_image", {"prompt": prompt})
    return result.structured_content["tasks"][0]


async def test_viewer_image_sends_the_saved_file_byte_for_byte_with_prompt_size_cost_and_expiry(
    connect: Connect,
) -> None:
    async with connect(apps=True) as client:
        task = await made(client, "an orange kite over dunes")
        result = await client.call_tool("viewer_image", {"task_id": task["task_id"], "index": 0})
    image = next(c for c in result.content if c.type == "image")
    assert base64.b64decode(image.data) == Path(task["images"][0]["path"]).read_bytes()  # type: ignore[union-attr]
    assert image.mime_type == "image/png"  # type: ignore[union-attr]
    facts = result.structured_content or {}
    assert facts["prompt"] == "an orange kite over dunes" and (facts["width"], facts["height"]) == (1024, 1024)
    assert facts["cost_usd"] == 0.06 and facts["url_expires_at"] == task["images"][0]["url_expires_at"]
    assert facts["scaled_down"] is False


async def test_viewer_image_of_an_unknown_task_is_a_one_line_error(connect: Connect) -> None:
    async with connect(apps=True) as client:
        result = await client.call_tool("viewer_image", {"task_id": "not-a-task"})
    assert result.is_error and "No task 'not-a-task'" in result.content[0].text  # type: ignore[union-attr]
    assert "\n" not in result.content[0].text.strip()  # type: ignore[union-attr]


async def test_viewer_edit_is_an_edit_image_call_on_the_task_reference(connect: Connect, settings: Settings) -> None:
    async with connect(apps=True) as client:
        task = await made(client, "a green bicycle")
        result = await client.call_tool(
            "viewer_edit", {"task_id": task["task_id"], "instruction": "paint it red", "idempotency_key": "ed-1"}
        )
    assert not result.is_error
    new = (result.structured_content or {})["tasks"][0]
    assert new["status"] == "completed" and Path(new["images"][0]["path"]).is_file()
    key, action, params = journal_rows(settings)[-1]
    assert (key, action) == ("ed-1", "edit_image")
    assert '"task:' + task["task_id"] + '"' in params and "paint it red" in params


async def test_viewer_variations_makes_count_edits_and_a_retry_with_the_same_key_pays_nothing_more(
    connect: Connect, settings: Settings
) -> None:
    async with connect(apps=True) as client:
        task = await made(client, "a glass lighthouse")
        args = {"task_id": task["task_id"], "count": 3, "idempotency_key": "var-1"}
        first = await client.call_tool("viewer_variations", args)
        again = await client.call_tool("viewer_variations", args)
    tasks = (first.structured_content or {})["tasks"]
    assert len(tasks) == 3 and all(t["status"] == "completed" for t in tasks)
    assert len({t["task_id"] for t in tasks}) == 3
    replayed = (again.structured_content or {})["tasks"]
    assert sorted(t["task_id"] for t in replayed) == sorted(t["task_id"] for t in tasks)
    assert again.content[0].text.count("not charged again") == 3  # type: ignore[union-attr]
    rows = [r for r in journal_rows(settings) if r[0].startswith("var-1")]
    assert sorted(r[0] for r in rows) == ["var-1-v1", "var-1-v2", "var-1-v3"]
    assert all(r[1] == "edit_image" and "a glass lighthouse" in r[2] for r in rows)
