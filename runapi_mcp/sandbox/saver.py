"""Saving the sandbox's account while it runs: in a worker thread, a batch of changes at a time.

A create, an upload, a balance or clock change is answered only once it is on disk (`SandboxState.saved`),
so a server killed right after the answer still has the task, its key and its reservation after a
restart. Changes that arrive while a save is running go in the next one: under load many requests share
one commit, and the event loop never waits on SQLite.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread

from runapi_mcp.sandbox.changes import Taken
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.records import file_row, task_row
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.store import Rows, SandboxStore

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


class StateSaver:
    def __init__(self, state: SandboxState, store: SandboxStore, port: int) -> None:
        self.state = state
        self.store = store
        self.port = port
        self._kick = anyio.Event()
        self._saved_event = anyio.Event()
        self._saved_count = 0
        self._failure: str | None = None
        changes = state.changes
        changes.recording = True
        changes.on_change = self._kick.set
        state.saved = self.saved

    async def saved(self) -> None:
        """Returns once every change made before the call is on disk; ApiError 503 if saving fails."""
        target = self.state.changes.count
        while self._saved_count < target:
            if self._failure is not None:
                raise ApiError(
                    503,
                    "state_not_saved",
                    f"The sandbox could not save its state ({self._failure}); send the request again.",
                    {"Retry-After": "1"},
                )
            await self._saved_event.wait()

    async def run(self) -> None:
        """Save until cancelled."""
        while True:
            await self._kick.wait()
            self._kick = anyio.Event()
            self.state.changes.on_change = self._kick.set
            if not await self.save_once():
                await anyio.sleep(RETRY_SECONDS)
                self._kick.set()

    async def save_once(self) -> bool:
        changes = self.state.changes
        target = changes.count
        taken = changes.take()
        try:
            await anyio.to_thread.run_sync(self.store.write, self._rows(taken))
        except Exception as exc:  # a full disk must not stop the sandbox: said on the next answers instead
            changes.give_back(taken)
            self._failure = f"{type(exc).__name__}: {exc}"
            log.error("saving the sandbox's state to %s failed: %s", self.store.path, self._failure)
            ok = False
        else:
            self._failure = None
            self._saved_count = max(self._saved_count, target)
            changes.saves += 1
            ok = True
        event, self._saved_event = self._saved_event, anyio.Event()
        event.set()
        return ok

    def _rows(self, taken: Taken) -> Rows:
        state = self.state
        rows = Rows(meta=self._meta(), output_digests=taken.output_digests)
        for task_id in taken.tasks:
            task = state.tasks[task_id]
            record = state.keys.get(task.idempotency_key) if task.idempotency_key is not None else None
            counts = (record.requests, record.replays, record.conflicts) if record is not None else None
            body, datas = task_row(task, counts)
            rows.tasks[task_id] = (task.created_at, body, datas)
        for file_id in taken.files:
            stored = state.files.find(file_id)
            if stored is not None and stored.output_of is None:
                rows.files[file_id] = file_row(stored)
        return rows

    def _meta(self) -> dict[str, Any]:
        state = self.state
        return {
            "clock": {"reading": state.clock.now(), "wall": time.time(), "scale": state.clock.scale},
            "funded_cents": state.ledger.funded_cents,
            # Only a secret the sandbox made up itself: one given on the command line stays out of files.
            "callback_secret": state.callbacks.secret if state.config.callback_secret is None else None,
            "port": self.port,
        }


@asynccontextmanager
async def saving(saver: StateSaver) -> AsyncGenerator[StateSaver]:
    """Save in the background while the block runs; on exit, one last save of whatever is left."""
    async with anyio.create_task_group() as group:
        saver.state.changes.account()  # the first save records the port and clock of this run
        group.start_soon(saver.run)
        try:
            yield saver
        finally:
            group.cancel_scope.cancel()
    with anyio.CancelScope(shield=True):
        await saver.save_once()
