"""A saved sandbox account back in memory: the clock run on through the downtime, then every task in
creation order, so tasks due while the server was down finish on their original schedule."""

from __future__ import annotations

import time
from typing import Any, cast

from runapi_mcp.sandbox.records import file_from_row, key_counts_from_row, task_from_row
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.store import Snapshot


def restore(state: SandboxState, snapshot: Snapshot) -> list[str]:
    """Load `snapshot` into a fresh `state`; the ids of uploaded files that expired (to drop from disk)."""
    meta = snapshot.meta
    clock = cast(dict[str, Any] | None, meta.get("clock"))
    # Callbacks due before the last save went out then; those due since (while down) go out now, late.
    saved_at = float("-inf")
    if isinstance(clock, dict):
        saved_at = float(clock["reading"])
        downtime = max(0.0, time.time() - float(clock["wall"]))
        state.clock.set_reading(saved_at + downtime * float(clock["scale"]))
    if isinstance(meta.get("funded_cents"), int):
        state.ledger.restore(meta["funded_cents"])
    if isinstance(meta.get("callback_secret"), str) and state.config.callback_secret is None:
        state.callbacks.secret = meta["callback_secret"]
    now = state.clock.now()
    expired: list[str] = []
    for body, data in snapshot.files:
        stored = file_from_row(body, data)
        if now >= stored.expires_at:
            expired.append(stored.id)
        else:
            state.files.restore(stored)
    for row in snapshot.tasks:
        state.restore_task(task_from_row(row), key_counts_from_row(row), callbacks_from=saved_at)
    state.outputs.restore_digests(snapshot.output_digests)
    state.finish_due(now, callbacks_from=saved_at)
    return expired
