"""The journal keeps every intent and task, across processes, kills and tenants."""

from __future__ import annotations

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

from runapi_mcp.core.errors import InputError, JournalError
from runapi_mcp.core.journal import INTENT_STATUS, SCHEMA_VERSION, Journal

TASK = "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14"
pytestmark = pytest.mark.anyio


class Clock:
    """Time that moves only when told, so ordering does not depend on the machine's clock resolution."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(tmp_path: Path, clock: Clock) -> Journal:
    return Journal(tmp_path / "state" / "journal.sqlite3", clock=clock)


async def intent(journal: Journal, key: str, owner: str | None = None, **params: object) -> None:
    await journal.record_intent(
        idempotency_key=key, action="text_to_image", params={"prompt": "p", **params}, output_dir="/out", owner=owner
    )


async def test_intent_is_recorded_before_any_task_id(journal: Journal, clock: Clock) -> None:
    entry = await journal.record_intent(
        idempotency_key="k1", action="edit_image", params={"prompt": "a fox", "images": ["a.png"]}, output_dir="/o"
    )
    assert entry.idempotency_key == "k1"
    assert entry.action == "edit_image"
    assert entry.params == {"prompt": "a fox", "images": ["a.png"]}
    assert (entry.task_id, entry.status, entry.output_dir, entry.owner) == (None, INTENT_STATUS, "/o", None)
    assert (entry.images, entry.error, entry.cost_cents) == ([], None, None)
    assert entry.created_at == entry.updated_at == clock.now
    assert await journal.get_by_key("k1") == entry


async def test_same_key_returns_the_existing_intent_unchanged(journal: Journal, clock: Clock) -> None:
    first = await journal.record_intent(idempotency_key="k", action="text_to_image", params={"prompt": "a"},
                                        output_dir="/a")
    clock.tick()
    again = await journal.record_intent(idempotency_key="k", action="text_to_image", params={"prompt": "b"},
                                        output_dir="/b")
    assert again == first
    assert len(await journal.recent()) == 1


async def test_attaching_the_task_id_makes_it_pending_and_findable(journal: Journal, clock: Clock) -> None:
    await intent(journal, "k")
    clock.tick()
    await journal.attach_task_id("k", TASK)
    entry = await journal.get(TASK)
    assert entry is not None
    assert (entry.idempotency_key, entry.task_id, entry.status) == ("k", TASK, "pending")
    assert entry.updated_at > entry.created_at


async def test_attaching_twice_keeps_a_later_status(journal: Journal) -> None:
    await intent(journal, "k")
    await journal.attach_task_id("k", TASK)
    await journal.update(TASK, status="processing")
    await journal.attach_task_id("k", TASK)  # a replayed create answering again
    entry = await journal.get(TASK)
    assert entry is not None
    assert entry.status == "processing"


async def test_attaching_to_an_unknown_key_is_an_error_not_a_silent_loss(journal: Journal) -> None:
    with pytest.raises(JournalError, match="record the intent first"):
        await journal.attach_task_id("never-recorded", TASK)


async def test_update_changes_only_the_fields_given(journal: Journal) -> None:
    await intent(journal, "k")
    await journal.attach_task_id("k", TASK)
    images = [{"index": 0, "url": "https://cdn.example/a.png", "path": "/out/a.png", "width": 1024}]
    assert await journal.update(TASK, status="completed", images=images, cost_cents=6.0)
    assert await journal.update(TASK, error="disk full while saving")
    entry = await journal.get(TASK)
    assert entry is not None
    assert (entry.status, entry.images, entry.cost_cents, entry.error) == (
        "completed", images, 6.0, "disk full while saving",
    )


async def test_update_of_an_unknown_task_reports_false(journal: Journal) -> None:
    await intent(journal, "k")
    assert await journal.update("no-such-task", status="completed") is False


async def test_marked_intents_and_lost_answers_are_unresolved(journal: Journal, clock: Clock) -> None:
    await intent(journal, "sent-no-answer")
    clock.tick()
    await intent(journal, "timed-out")
    await journal.mark_intent("timed-out", status="unknown", error="connection dropped")
    clock.tick()
    await intent(journal, "refused")
    await journal.mark_intent("refused", status="rejected", error="insufficient credits")
    clock.tick()
    await intent(journal, "answered")
    await journal.attach_task_id("answered", TASK)

    unresolved = await journal.unresolved()
    assert [e.idempotency_key for e in unresolved] == ["sent-no-answer", "timed-out"]
    assert unresolved[1].error == "connection dropped"
    assert [e.idempotency_key for e in await journal.unresolved(older_than=2.5)] == ["sent-no-answer"]


async def test_attaching_after_a_lost_answer_clears_the_stale_error(journal: Journal) -> None:
    await intent(journal, "k")
    await journal.mark_intent("k", status="unknown", error="connection dropped")
    await journal.attach_task_id("k", TASK)
    entry = await journal.get(TASK)
    assert entry is not None
    assert (entry.status, entry.error) == ("pending", None)
    assert await journal.unresolved() == []


async def test_recent_is_newest_first_with_limit_and_status_filter(journal: Journal, clock: Clock) -> None:
    for i in range(5):
        await intent(journal, f"k{i}")
        await journal.attach_task_id(f"k{i}", f"task-{i}")
        if i % 2 == 0:
            await journal.update(f"task-{i}", status="completed")
        clock.tick()
    assert [e.idempotency_key for e in await journal.recent()] == ["k4", "k3", "k2", "k1", "k0"]
    assert [e.idempotency_key for e in await journal.recent(limit=2)] == ["k4", "k3"]
    assert [e.idempotency_key for e in await journal.recent(status="completed")] == ["k4", "k2", "k0"]
    assert [e.idempotency_key for e in await journal.recent(status="pending", limit=1)] == ["k3"]


async def test_rows_written_in_the_same_instant_keep_their_order(journal: Journal) -> None:
    for i in range(3):
        await intent(journal, f"k{i}")
    assert [e.idempotency_key for e in await journal.recent()] == ["k2", "k1", "k0"]


async def test_owner_filter_hides_other_tenants_tasks(journal: Journal) -> None:
    await intent(journal, "a-key", owner="tenant-a")
    await journal.attach_task_id("a-key", "task-a")
    await intent(journal, "b-key", owner="tenant-b")
    await journal.attach_task_id("b-key", "task-b")

    assert await journal.get("task-a", owner="tenant-b") is None
    found = await journal.get("task-a", owner="tenant-a")
    assert found is not None
    assert found.owner == "tenant-a"
    assert await journal.get_by_key("a-key", owner="tenant-b") is None
    assert [e.task_id for e in await journal.recent(owner="tenant-b")] == ["task-b"]
    assert {e.task_id for e in await journal.recent()} == {"task-a", "task-b"}  # no owner: stdio sees all


async def test_another_tenants_idempotency_key_is_refused_without_revealing_their_task(journal: Journal) -> None:
    await intent(journal, "shared-key", owner="tenant-a", prompt="tenant a's secret prompt")
    with pytest.raises(InputError) as caught:
        await intent(journal, "shared-key", owner="tenant-b")
    assert "already in use" in str(caught.value)
    assert "secret" not in str(caught.value)


async def test_file_is_versioned_wal_and_private(journal: Journal) -> None:
    await intent(journal, "k")
    with sqlite3.connect(journal.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600


async def test_journal_from_a_newer_version_is_refused_with_a_next_step(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError, match="newer runapi-mcp"):
        await Journal(path).recent()


async def test_unwritable_state_folder_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(JournalError, match="RUNAPI_MCP_STATE_DIR"):
        await Journal(tmp_path / "file" / "journal.sqlite3").recent()


async def test_a_second_journal_object_sees_the_same_rows(journal: Journal) -> None:
    await intent(journal, "k")
    other = Journal(journal.path)
    assert [e.idempotency_key for e in await other.recent()] == ["k"]


# ---- several processes, and kills ----------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import anyio
    from runapi_mcp.core.journal import Journal

    path, name, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])

    async def main() -> None:
        journal = Journal(path)
        deadline = time.monotonic() + 20
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        for i in range(count):
            key = f"{name}-{i}"
            await journal.record_intent(idempotency_key=key, action="text_to_image",
                                        params={"prompt": key, "pad": "x" * 2000}, output_dir=None)
            await journal.attach_task_id(key, f"task-{key}")
            await journal.update(f"task-{key}", status="completed", images=[{"index": 0, "path": key}])
            print(i, flush=True)

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

    entries = await Journal(path).recent(limit=1000, status="completed")
    assert len(entries) == 400
    assert {e.idempotency_key for e in entries} == {f"{n}-{i}" for n in "ab" for i in range(200)}
    assert all(e.task_id == f"task-{e.idempotency_key}" for e in entries)


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
    proc.wait(timeout=10)
    assert done >= 50, proc.stderr.read() if proc.stderr else ""

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    journal = Journal(path)
    completed = {e.idempotency_key for e in await journal.recent(limit=1000, status="completed")}
    assert {f"k-{i}" for i in range(done + 1)} <= completed
    await intent(journal, "after-the-kill")  # and it still takes writes
    assert await journal.get_by_key("after-the-kill") is not None
