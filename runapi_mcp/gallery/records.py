"""The one place the gallery reads the task journal: its rows become the flat items the page shows.

Only `Journal.recent` and `Journal.get` are used, and only here (with the journal's construction), so a change
in the journal's rows or engines touches this module alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runapi_mcp.core.journal import LOCAL_OWNER, Journal, TaskRow, open_journal
from runapi_mcp.settings import Settings

# Statuses after which nothing more will arrive; anything else is still on its way.
FINISHED = ("completed", "failed", "rejected")
MAX_TASKS = 1000


@dataclass(frozen=True)
class GalleryItem:
    """One card: a saved image of a task, or a task that has no image (yet)."""

    task_id: str | None
    index: int | None
    action: str
    status: str
    prompt: str
    created_at: float
    cost_cents: float | None
    path: str | None
    width: int | None
    height: int | None
    size_bytes: int | None
    url_expires_at: str | None
    error: str | None

    @property
    def pending(self) -> bool:
        return self.status not in FINISHED

    @property
    def reference(self) -> str | None:
        """What edit_image accepts to name this image again."""
        if self.task_id is None:
            return None
        return f"task:{self.task_id}" if not self.index else f"task:{self.task_id}#{self.index}"

    def as_json(self, image_url: str | None, thumb_url: str | None, unavailable: str | None) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "index": self.index,
            "action": self.action,
            "status": self.status,
            "pending": self.pending,
            "prompt": self.prompt,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at)),
            "cost_usd": None if self.cost_cents is None else round(self.cost_cents / 100, 4),
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "size_bytes": self.size_bytes,
            "url_expires_at": self.url_expires_at,
            "error": self.error,
            "reference": self.reference,
            "image_url": image_url,
            "thumb_url": thumb_url,
            "unavailable": unavailable,
        }


def open_gallery_journal(settings: Settings, *, sandbox: bool) -> Journal:
    """The journal the server writes: PostgreSQL when RUNAPI_MCP_DATABASE_URL names one, else the SQLite file."""
    url = None if sandbox or settings.database_url is None else settings.database_url.get_secret_value()
    return open_journal(sqlite_path=journal_file(settings, sandbox=sandbox), database_url=url)


def journal_file(settings: Settings, *, sandbox: bool) -> Path:
    return settings.state_dir / ("sandbox-journal.sqlite3" if sandbox else "journal.sqlite3")


async def gallery_items(journal: Journal, *, limit: int = MAX_TASKS) -> list[GalleryItem]:
    """Newest first: one item per saved image, one per task without images. Local tasks only: rows a
    multi-tenant HTTP server made for a tenant's key belong to that tenant, not to whoever runs the gallery."""
    items: list[GalleryItem] = []
    for row in await journal.recent(limit=limit, owner=LOCAL_OWNER):
        items.extend(_items_of(row))
    return items


async def gallery_item(journal: Journal, task_id: str, index: int) -> GalleryItem | None:
    """The item for one image of a local task, or None."""
    row = await journal.get(task_id, owner=LOCAL_OWNER)
    if row is None:
        return None
    return next((item for item in _items_of(row) if item.index == index and item.path is not None), None)


def _items_of(row: TaskRow) -> list[GalleryItem]:
    common: dict[str, Any] = {
        "task_id": row.task_id,
        "action": row.action,
        "status": row.status,
        "prompt": row.params.prompt,
        "created_at": row.created_at,
        "cost_cents": row.cost_cents,
        "error": row.error,
    }
    if not row.images:
        return [
            GalleryItem(index=None, path=None, width=None, height=None, size_bytes=None, url_expires_at=None, **common)
        ]
    return [
        GalleryItem(
            index=image.index,
            path=image.path,
            width=image.width,
            height=image.height,
            size_bytes=image.size_bytes,
            url_expires_at=image.url_expires_at,
            **common,
        )
        for image in row.images
    ]
