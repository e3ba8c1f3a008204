"""Per-owner retention, on both engines: old or surplus finished rows go with their stored images, nothing else."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runapi_mcp.core.journal import Journal, TaskParams, open_journal
from runapi_mcp.core.previews_store import PreviewStore, StoredImage
from runapi_mcp.core.retention import PRUNE_BATCH, Retention, prune

pytestmark = pytest.mark.anyio
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time() - 30 * DAY

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def journal(tmp_path: Path, database_url: str | None) -> AsyncIterator[tuple[Journal, Clock]]:
    clock = Clock()
    journal = open_journal(sqlite_path=tmp_path / "journal.sqlite3", database_url=database_url, clock=clock)
    yield journal, clock
    await journal.close()


async def _task(journal: Journal, owner: str, task_id: str, status: str = "completed") -> None:
    await journal.record_intent(
        idempotency_key=task_id, action="text_to_image", params=TaskParams(prompt=task_id), output_dir=None, owner=owner
    )
    await journal.attach_task_id(task_id, task_id, owner=owner)
    if status != "pending":
        await journal.update(task_id, status=status)  # pyright: ignore[reportArgumentType]


async def _stored(store: PreviewStore, task_id: str) -> None:
    assert await store.claim(task_id, 0, "o", now=time.time(), stale_before=0)
    image = StoredImage(3, "ab", "image/png", 1, 1, b"p", "image/jpeg", b"png", time.time(), time.time())
    await store.store(task_id, 0, image)


async def test_rows_past_the_retention_days_go_for_that_owner_only_and_never_an_unfinished_one(
    journal: tuple[Journal, Clock],
) -> None:
    db, clock = journal
    store = PreviewStore(db)
    await _task(db, "a", "a-old")
    await _task(db, "a", "a-failed", "failed")
    await _task(db, "a", "a-pending", "pending")
    await _task(db, "b", "b-old")
    await _stored(store, "a-old")
    await _stored(store, "b-old")
    clock.now = time.time()
    await _task(db, "a", "a-new")
    removed = await prune(db, store, Retention(days=7), "a")
    assert removed == 2
    assert {r.task_id for r in await db.recent(owner="a")} == {"a-pending", "a-new"}
    assert {r.task_id for r in await db.recent(owner="b")} == {"b-old"}
    assert await store.get("a-old", 0) is None and await store.get("b-old", 0) is not None


async def test_an_owner_past_the_row_limit_keeps_only_its_newest_finished_rows(journal: tuple[Journal, Clock]) -> None:
    db, clock = journal
    for i in range(5):
        clock.now += 1
        await _task(db, "a", f"a-{i}")
    await _task(db, "b", "b-0")
    assert await prune(db, None, Retention(max_tasks=2), "a") == 3
    assert [r.task_id for r in await db.recent(owner="a")] == ["a-4", "a-3"]
    assert len(await db.recent(owner="b")) == 1


async def test_one_prune_removes_a_bounded_batch_and_the_next_ones_finish_the_job(
    journal: tuple[Journal, Clock],
) -> None:
    db, clock = journal
    for i in range(PRUNE_BATCH + 5):
        await _task(db, "a", f"a-{i}")
    clock.now = time.time()
    assert await prune(db, None, Retention(), "a") == 0  # no limit configured: nothing is ever removed
    assert await prune(db, None, Retention(days=1), "a") == PRUNE_BATCH
    assert await prune(db, None, Retention(days=1), "a") == 5
