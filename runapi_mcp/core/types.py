"""The flow's data: the record a task run carries through create and follow, and what comes back to the server.

Plain frozen data, no MCP types. A changed value is a new object (`dataclasses.replace`), never a mutation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runapi_mcp.core.folders import OutputFolder
from runapi_mcp.core.journal import FINAL_STATES, ImageRecord, TaskParams, TaskRow, TaskState
from runapi_mcp.runapi.models import Action

if TYPE_CHECKING:  # the image module (Pillow's side) loads with the first result, not with the server
    from runapi_mcp.core.images import Preview


@dataclass(frozen=True)
class Workspace:
    """Where this call may read and write: the working directory and the allowed roots."""

    working_dir: Path
    roots: tuple[Path, ...]


@dataclass(frozen=True)
class TaskRun:
    """One task as the flow follows it, built once: by the create path, or from the journal by get_task."""

    action: Action
    idempotency_key: str
    params: TaskParams  # what RunAPI was sent
    folder: OutputFolder
    task_id: str | None = None
    # The key the caller gave (or was given) for the whole call: count > 1 appends "#n" per task, and a
    # retry hint must name the caller's key exactly, "#" and all.
    call_key: str | None = None
    # When the intent was recorded (wall clock): how long the task has run, for polling that learns.
    created_at: float | None = None

    @classmethod
    def from_row(cls, row: TaskRow, folder: OutputFolder) -> TaskRun:
        return cls(row.action, row.idempotency_key, row.params, folder, row.task_id, created_at=row.created_at)

    @property
    def retry_key(self) -> str:
        return self.call_key or self.idempotency_key


@dataclass(frozen=True)
class SavedImage:
    """A result image: what the journal records of it, plus what only this call has (its preview, and why
    it was not saved locally when it was not: its URL at RunAPI may still work)."""

    record: ImageRecord
    preview: Preview | None = None
    save_error: str | None = None
    note: str | None = None  # saved, but something about it to tell (why it has no preview)

    @property
    def index(self) -> int:
        return self.record.index

    @property
    def url(self) -> str | None:
        return self.record.url

    @property
    def url_expires_at(self) -> str | None:
        return self.record.url_expires_at

    @property
    def path(self) -> Path | None:
        return Path(self.record.path) if self.record.path else None

    @property
    def width(self) -> int | None:
        return self.record.width

    @property
    def height(self) -> int | None:
        return self.record.height

    @property
    def size_bytes(self) -> int | None:
        return self.record.size_bytes

    @property
    def content_type(self) -> str | None:
        return self.record.content_type


@dataclass(frozen=True)
class Cost:
    usd: float | None
    # "charged" (RunAPI reported it), "estimated" (list price x images), or "not billed" (failed task).
    basis: str
    detail: str = ""


# A task's state as a result reports it: the journal's states, and "unknown" for a create with no answer.
OutcomeStatus = TaskState


@dataclass(frozen=True)
class TaskOutcome:
    action: Action
    idempotency_key: str
    task_id: str | None
    status: OutcomeStatus
    images: tuple[SavedImage, ...] = ()
    cost: Cost | None = None
    error: str | None = None
    replayed: bool = False
    # What the agent should call next, when anything: e.g. "get_task" or "generate_image" (same key).
    next_action: str | None = None
    next_hint: str | None = None
    # The failure behind a `rejected` task, for the server to explain in its own words.
    cause: Exception | None = None
    # Said beside the outcome without changing it: e.g. that the journal could not record the task.
    note: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def failed(self) -> bool:
        """Nothing usable: the task failed, was refused, or no task is known to exist."""
        return self.status in ("failed", "rejected") or (self.task_id is None and self.status == "unknown")


@dataclass(frozen=True)
class JobOutcome:
    tasks: tuple[TaskOutcome, ...]
    output_dir: Path | None
    notes: tuple[str, ...] = ()
    sandbox: bool = False
    # Served by replicas sharing a database: images are URLs and resources, and no server path is shown.
    hosted: bool = False

    @property
    def all_failed(self) -> bool:
        """Nothing usable came back: every task failed, was refused, or may not exist."""
        return bool(self.tasks) and all(task.failed for task in self.tasks)
