"""The one place the gallery reads the task journal: its rows become the flat items the page shows.

Only `Journal.recent` and `Journal.get` are used, and only here (with the journal's construction), so a change
in the journal's row type or engine touches this module alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import runapi_mcp.core.journal as journal_module
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


def open_journal_file(path: Path) -> Journal:
    """The journal in the SQLite file `path` (the one place the gallery builds a journal)."""
    # The journal is becoming a package whose SQLite journal is built by sqlite_journal(path); until then the
    # class takes the path itself.
    factory: Any = getattr(journal_module, "sqlite_journal", None)
    return Journal(path) if factory is None else cast(Journal, factory(path))


async def gallery_items(journal: Journal, *, limit: int = MAX_TASKS) -> list[GalleryItem]:
    """Newest first: one item per saved image, one per task without images. Local tasks only: rows a
    multi-tenant HTTP server made for a tenant's key belong to that tenant, not to whoever runs the gallery."""
    items: list[GalleryItem] = []
    for entry in await journal.recent(limit=limit):
        items.extend(_items_of(entry))
    return items


async def gallery_item(journal: Journal, task_id: str, index: int) -> GalleryItem | None:
    """The item for one image of a local task, or None."""
    entry = await journal.get(task_id)
    if entry is None:
        return None
    return next((item for item in _items_of(entry) if item.index == index and item.path is not None), None)


def _items_of(entry: Any) -> list[GalleryItem]:
    # Rows are read by field name, whether a field holds a dict (today's rows) or a model (typed rows).
    if _field(entry, "owner"):  # None or "" is the local user
        return []
    common: dict[str, Any] = {
        "task_id": _str(_field(entry, "task_id")),
        "action": str(_field(entry, "action") or ""),
        "status": str(_field(entry, "status") or "unknown"),
        "prompt": str(_field(_field(entry, "params"), "prompt") or ""),
        "created_at": float(_field(entry, "created_at") or 0.0),
        "cost_cents": _number(_field(entry, "cost_cents")),
        "error": _str(_field(entry, "error")),
    }
    images: list[Any] = list(_field(entry, "images") or [])
    if not images:
        return [
            GalleryItem(index=None, path=None, width=None, height=None, size_bytes=None, url_expires_at=None, **common)
        ]
    return [
        GalleryItem(
            index=_int(_field(image, "index"), position),
            path=_str(_field(image, "path")),
            width=_int(_field(image, "width")),
            height=_int(_field(image, "height")),
            size_bytes=_int(_field(image, "size_bytes")),
            url_expires_at=_str(_field(image, "url_expires_at")),
            **common,
        )
        for position, image in enumerate(images)
    ]


def _field(row: Any, name: str) -> Any:
    if isinstance(row, dict):
        return cast(dict[str, Any], row).get(name)
    return getattr(row, name, None)


def _int(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
