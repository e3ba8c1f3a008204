"""Progress counts task stages (created, generating, finished) and says in words what is happening."""

from __future__ import annotations

import time

import pytest

from runapi_mcp.core.progress import ProgressTracker
from runapi_mcp.runapi.models import TaskStatus

pytestmark = pytest.mark.anyio


def _status(task_id: str, status: str) -> TaskStatus:
    return TaskStatus.model_validate({"id": task_id, "status": status})


async def test_two_tasks_move_through_stages_to_a_total_of_three_each_with_full_ids_first() -> None:
    seen: list[tuple[float, float | None, str]] = []

    async def report(done: float, total: float | None, message: str) -> None:
        seen.append((done, total, message))

    a, b = "a" * 8 + "-1111-2222-3333-444444444444", "b" * 8 + "-1111-2222-3333-444444444444"
    tracker = ProgressTracker(report, 2, time.monotonic() + 50)
    await tracker.update(a, _status(a, "pending"), "key-a")
    await tracker.update(b, None, "key-b")
    await tracker.update(a, _status(a, "processing"), "key-a")
    await tracker.update(b, _status(b, "completed"), "key-b")
    await tracker.update(a, _status(a, "failed"), "key-a")

    assert [d for d, _, _ in seen] == [1, 2, 3, 5, 6]  # monotonic, no jump to done
    assert {t for _, t, _ in seen} == {6}
    assert seen[0][2] == f"Task {a} (idempotency_key key-a) created: queued at RunAPI. 0 of 2 tasks finished."
    assert seen[1][2].startswith(f"Task {b} (idempotency_key key-b) created: no answer from RunAPI yet.")
    assert seen[2][2].startswith("Task aaaaaaaa: generating after ")
    assert "waiting up to 50 s" in seen[2][2]
    assert seen[-1][2].endswith("2 of 2 tasks finished.") and "failed" in seen[-1][2]
