"""Per-owner retention: an owner's finished tasks older than a limit, or past a row count, are forgotten.

Applied on write (each generate or edit call prunes its own owner's rows), a bounded batch at a time, so
no call pays for a big delete and no owner's history grows without end. Only finished rows go (completed,
failed, rejected): a task that may still be running is never lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from runapi_mcp.core.journal import LOCAL_OWNER, Journal
from runapi_mcp.core.journal.engine import Statement
from runapi_mcp.core.previews_store import PreviewStore

# At most this many rows go per call: the rest goes on the owner's next calls.
PRUNE_BATCH = 100
_FINISHED = ("completed", "failed", "rejected")


@dataclass(frozen=True)
class Retention:
    days: float | None = None  # RUNAPI_MCP_RETENTION_DAYS
    max_tasks: int | None = None  # RUNAPI_MCP_MAX_TASKS_PER_OWNER

    @property
    def active(self) -> bool:
        return self.days is not None or self.max_tasks is not None


async def prune(
    journal: Journal, store: PreviewStore | None, retention: Retention, owner: str | None, *, now: float | None = None
) -> int:
    """Forget up to PRUNE_BATCH of `owner`'s finished rows past the limits, with their stored images."""
    if not retention.active:
        return 0
    who = LOCAL_OWNER if owner is None else owner
    marks = ", ".join("?" for _ in _FINISHED)
    chosen = f"SELECT seq FROM tasks WHERE owner = ? AND status IN ({marks})"
    statements: list[Statement] = []
    if retention.days is not None:
        cutoff = (time.time() if now is None else now) - retention.days * 86400
        statements.append(
            Statement(
                f"DELETE FROM tasks WHERE seq IN ({chosen} AND updated_at < ? ORDER BY seq LIMIT ?) RETURNING task_id",
                (who, *_FINISHED, cutoff, PRUNE_BATCH),
            )
        )
    if retention.max_tasks is not None:
        statements.append(
            Statement(
                f"DELETE FROM tasks WHERE seq IN ({chosen} ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?) "
                "RETURNING task_id",
                (who, *_FINISHED, PRUNE_BATCH, retention.max_tasks),
            )
        )
    results = await journal.engine.run(statements, transaction=True)
    gone = [str(row[0]) for result in results for row in result.rows if row[0] is not None]
    if store is not None:
        await store.forget(gone)
    return sum(len(result.rows) for result in results)
