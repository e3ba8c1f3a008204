"""What the generation flow hands back to the server: plain data, no MCP types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runapi_mcp.core.images import Preview


@dataclass(frozen=True)
class Workspace:
    """Where this call may read and write: the working directory and the allowed roots."""

    working_dir: Path
    roots: tuple[Path, ...]


@dataclass
class SavedImage:
    index: int
    url: str | None
    url_expires_at: str | None
    path: Path | None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    content_type: str | None = None  # found in the saved content
    sha256: str | None = None
    preview: Preview | None = None
    # Set when the image exists at RunAPI but could not be saved locally (the URL still works).
    save_error: str | None = None


@dataclass
class Cost:
    usd: float | None
    # "charged" (RunAPI reported it), "estimated" (list price x images), or "not billed" (failed task).
    basis: str
    detail: str = ""


@dataclass
class TaskOutcome:
    action: str
    idempotency_key: str
    task_id: str | None
    status: str  # pending | processing | completed | failed | unknown
    images: list[SavedImage] = field(default_factory=list[SavedImage])
    cost: Cost | None = None
    error: str | None = None
    replayed: bool = False
    # What the agent should call next, when anything: e.g. "get_task" or "retry generate_image".
    next_action: str | None = None
    next_hint: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")


@dataclass
class JobOutcome:
    tasks: list[TaskOutcome]
    output_dir: Path | None
    notes: list[str] = field(default_factory=list[str])
    sandbox: bool = False

    @property
    def all_failed(self) -> bool:
        """Nothing usable came back: every task failed, or none was created and none may have been."""
        return bool(self.tasks) and all(t.status == "failed" or (t.task_id is None and t.status == "unknown")
                                        for t in self.tasks)
