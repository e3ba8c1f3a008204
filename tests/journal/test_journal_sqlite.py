"""The SQLite journal: a private versioned WAL file shared by processes, killed writers, and the v1 -> v2 migration."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal import LOCAL_OWNER, SourceRef, TaskParams, sqlite_journal
from runapi_mcp.core.journal.migrations import SCHEMA_VERSION, SQLITE_V1

pytestmark = pytest.mark.anyio


async def test_file_is_versioned_wal_and_private(tmp_path: Path) -> None:
    journal = sqlite_journal(tmp_path / "state" / "journal.sqlite3")
    await journal.recent()
    await journal.close()
    path = tmp_path / "state" / "journal.sqlite3"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_journal_from_a_newer_version_is_refused_with_a_next_step(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    journal = sqlite_journal(path)
    with pytest.raises(JournalError, match="newer runapi-mcp"):
        await journal.recent()
    await journal.close()


async def test_unwritable_state_folder_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    journal = sqlite_journal(tmp_path / "file" / "journal.sqlite3")
    with pytest.raises(JournalError, match="RUNAPI_MCP_STATE_DIR"):
        await journal.recent()
    await journal.close()


async def test_list_by_status_reads_an_index_not_the_whole_table(tmp_path: Path) -> None:
    journal = sqlite_journal(tmp_path / "journal.sqlite3")
    await journal.recent()
    await journal.close()
    with sqlite3.connect(tmp_path / "journal.sqlite3") as conn:
        newest = "ORDER BY created_at DESC, seq DESC LIMIT 10"
        for where, index in [
            ("owner = '' AND status = 'completed'", "tasks_owner_status_created"),
            ("status = 'completed'", "tasks_status_created"),
            ("owner = 'tenant'", "tasks_owner_created"),
        ]:
            plan = " ".join(
                row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT * FROM tasks WHERE {where} {newest}")
            )
            assert f"USING INDEX {index}" in plan and "TEMP B-TREE" not in plan, plan


# ---- the version 1 journal ------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def v1_journal(path: Path) -> None:
    """A journal exactly as runapi-mcp wrote schema 1: its DDL, its params and images blobs."""
    rows = [
        (
            "edit-key",
            "task-edit",
            "edit_image",
            {
                "prompt": "a fox",
                "images": [DATA_URI, "./in.png", "https://example.com/b.png"],
                "source_image_urls": ["https://tmp.runapi/1", "https://tmp.runapi/2", "https://example.com/b.png"],
            },
            "completed",
            [
                {
                    "index": 0,
                    "url": "https://cdn/x.png",
                    "path": "/out/x.png",
                    "width": 8,
                    "height": 8,
                    "size_bytes": 100,
                }
            ],
            None,
            6.0,
            None,
        ),
        ("adopted-task-z", "task-z", "text_to_image", {}, "processing", [], None, None, "tenant-a"),
        (
            "lost-key",
            None,
            "text_to_image",
            {"prompt": "a cat", "output_resolution": "2k"},
            "unknown",
            [],
            "connection dropped",
            None,
            None,
        ),
        ("dup-key", "task-edit", "text_to_image", {"prompt": "dup"}, "pending", [], None, None, None),
    ]
    with sqlite3.connect(path) as conn:
        for statement in SQLITE_V1:
            conn.execute(statement)
        for n, (key, task_id, action, params, status, images, error, cost, owner) in enumerate(rows):
            conn.execute(
                "INSERT INTO tasks (idempotency_key, task_id, action, params, output_dir, status, created_at, "
                "updated_at, images, error, cost_cents, owner) VALUES (?, ?, ?, ?, '/out', ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    task_id,
                    action,
                    json.dumps(params),
                    status,
                    1000.0 + n,
                    1000.0 + n,
                    json.dumps(images),
                    error,
                    cost,
                    owner,
                ),
            )
        conn.execute("PRAGMA user_version = 1")


async def test_a_version_1_journal_is_migrated_to_typed_rows_without_any_data_payload(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    v1_journal(path)
    journal = sqlite_journal(path)
    edit = await journal.get("task-edit")
    assert edit is not None
    digest = hashlib.sha256(PNG).hexdigest()
    assert edit.params == TaskParams(
        prompt="a fox",
        sources=(
            SourceRef(reference=f"data:image/png;sha256={digest}", url="https://tmp.runapi/1", sha256=digest),
            SourceRef(reference="./in.png", url="https://tmp.runapi/2"),
            SourceRef(reference="https://example.com/b.png", url="https://example.com/b.png"),
        ),
    )
    assert (edit.owner, edit.status, edit.cost_cents) == (LOCAL_OWNER, "completed", 6.0)
    assert (edit.images[0].path, edit.images[0].width, edit.images[0].content_type) == ("/out/x.png", 8, None)
    adopted = await journal.get("task-z", owner="tenant-a")
    assert adopted is not None and adopted.params == TaskParams() and adopted.status == "processing"
    lost = await journal.get_by_key("lost-key")
    assert lost is not None
    assert (lost.params.prompt, lost.params.output_resolution, lost.status, lost.error) == (
        "a cat",
        "2k",
        "unknown",
        "connection dropped",
    )
    duplicate = await journal.get_by_key("dup-key")
    assert duplicate is not None and duplicate.task_id is None  # task ids are unique: the older row keeps it
    assert [r.idempotency_key for r in await journal.recent()] == ["dup-key", "lost-key", "adopted-task-z", "edit-key"]
    await journal.close()

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        stored = " ".join(str(v) for row in conn.execute("SELECT * FROM tasks") for v in row)
    assert {"tasks_owner_status_created", "tasks_owner_created"} <= indexes
    assert base64.b64encode(PNG).decode()[:40] not in stored and "source_image_urls" not in stored


async def test_a_migrated_journal_keeps_owner_key_and_task_id_unique(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    v1_journal(path)
    journal = sqlite_journal(path)
    await journal.recent()
    await journal.close()
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE tasks SET task_id = 'task-z' WHERE idempotency_key = 'lost-key'")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO tasks (owner, idempotency_key, action, params, status, created_at, updated_at) "
                "VALUES ('', 'lost-key', 'text_to_image', '{}', 'submitting', 0, 0)"
            )
        conn.execute(
            "INSERT INTO tasks (owner, idempotency_key, action, params, status, created_at, updated_at) "
            "VALUES ('tenant-b', 'lost-key', 'text_to_image', '{}', 'submitting', 0, 0)"
        )


# ---- several processes, and kills ----------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import anyio
    from runapi_mcp.core.journal import ImageRecord, TaskParams, sqlite_journal

    path, name, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])

    async def main() -> None:
        journal = sqlite_journal(path)
        deadline = time.monotonic() + 20
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        for i in range(count):
            key = f"{name}-{i}"
            await journal.record_intent(idempotency_key=key, action="text_to_image",
                                        params=TaskParams(prompt=key + "x" * 2000), output_dir=None)
            await journal.attach_task_id(key, f"task-{key}")
            await journal.update(f"task-{key}", status="completed", images=(ImageRecord(index=0, path=key),))
            print(i, flush=True)
        await journal.close()

    anyio.run(main)
    """
)


def _writer(path: Path, name: str, count: int, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), name, str(count), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.timeout(60)
async def test_two_processes_writing_at_once_lose_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "journal.sqlite3"  # neither process finds a schema: both race to create it
    go = tmp_path / "go"
    writers = [_writer(path, name, 200, go) for name in ("a", "b")]
    go.touch()
    for proc in writers:
        out, err = proc.communicate(timeout=50)
        assert proc.returncode == 0, err
        assert out.split()[-1] == "199"

    journal = sqlite_journal(path)
    rows = await journal.recent(limit=1000, status="completed")
    await journal.close()
    assert len(rows) == 400
    assert {e.idempotency_key for e in rows} == {f"{n}-{i}" for n in "ab" for i in range(200)}
    assert all(e.task_id == f"task-{e.idempotency_key}" for e in rows)


@pytest.mark.timeout(60)
async def test_killed_writer_leaves_a_readable_journal_with_every_finished_write(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    go = tmp_path / "go"
    go.touch()
    proc = _writer(path, "k", 100_000, go)
    assert proc.stdout is not None
    done = -1
    deadline = time.monotonic() + 30
    while done < 50 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        done = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=10)  # also closes the pipes
    assert done >= 50, err

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    journal = sqlite_journal(path)
    completed = {e.idempotency_key for e in await journal.recent(limit=1000, status="completed")}
    assert {f"k-{i}" for i in range(done + 1)} <= completed
    await journal.record_intent(idempotency_key="after", action="text_to_image", params=TaskParams(), output_dir=None)
    assert await journal.get_by_key("after") is not None  # and it still takes writes
    await journal.close()
