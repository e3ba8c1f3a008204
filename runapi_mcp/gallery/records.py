"""The one place the gallery reads the task journal: its rows become the flat items the page shows.

Only `Journal.recent` is used and only here, so a change in the journal's row type touches this module alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from runapi_mcp.core.journal import Journal

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


async def gallery_items(journal: Journal, *, limit: int = MAX_TASKS) -> list[GalleryItem]:
    """Newest first: one item per saved image, one per task without images. Local (stdio) tasks only: rows a
    multi-tenant HTTP server made for a tenant's key belong to that tenant, not to whoever runs the gallery."""
    entries = await journal.recent(limit=limit)
    items: list[GalleryItem] = []
    for entry in entries:
        if entry.owner is not None:
            continue
        prompt = str(entry.params.get("prompt", ""))
        common: dict[str, Any] = {
            "task_id": entry.task_id,
            "action": entry.action,
            "status": entry.status,
            "prompt": prompt,
            "created_at": entry.created_at,
            "cost_cents": entry.cost_cents,
            "error": entry.error,
        }
        if not entry.images:
            items.append(
                GalleryItem(
                    index=None, path=None, width=None, height=None, size_bytes=None, url_expires_at=None, **common
                )
            )
            continue
        for position, image in enumerate(entry.images):
            items.append(
                GalleryItem(
                    index=_int(image.get("index"), position),
                    path=_str(image.get("path")),
                    width=_int(image.get("width")),
                    height=_int(image.get("height")),
                    size_bytes=_int(image.get("size_bytes")),
                    url_expires_at=_str(image.get("url_expires_at")),
                    **common,
                )
            )
    return items


def _int(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def gallery_item(journal: Journal, task_id: str, index: int) -> GalleryItem | None:
    """The item for one image of a local task, or None."""
    entry = await journal.get(task_id)
    if entry is None or entry.owner is not None:
        return None
    for position, image in enumerate(entry.images):
        if _int(image.get("index"), position) == index:
            return GalleryItem(
                task_id=entry.task_id,
                index=index,
                action=entry.action,
                status=entry.status,
                prompt=str(entry.params.get("prompt", "")),
                created_at=entry.created_at,
                cost_cents=entry.cost_cents,
                error=entry.error,
                path=_str(image.get("path")),
                width=_int(image.get("width")),
                height=_int(image.get("height")),
                size_bytes=_int(image.get("size_bytes")),
                url_expires_at=_str(image.get("url_expires_at")),
            )
    return None
