"""Saving a completed task's images: streamed download, sidecar, preview; and reading saved results back."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx2

from runapi_mcp.core.download import download_to
from runapi_mcp.core.errors import CoreError
from runapi_mcp.core.files import image_filename, write_sidecar
from runapi_mcp.core.folders import OutputFolder
from runapi_mcp.core.images import make_preview_async
from runapi_mcp.core.journal import ImageRecord, TaskParams, TaskRow
from runapi_mcp.core.types import Cost, SavedImage, TaskOutcome
from runapi_mcp.runapi.models import TaskStatus
from runapi_mcp.settings import Settings

# A whole download may take this many request timeouts (60 s by default).
DOWNLOAD_TIMEOUT_FACTOR = 2
# RunAPI keeps output URLs for 7 days.
URL_LIFETIME_SECONDS = 7 * 24 * 3600


class ResultSaver:
    def __init__(self, http: httpx2.AsyncClient, settings: Settings, *, allow_hosts: tuple[str, ...], sandbox: bool):
        self._http = http
        self._settings = settings
        self._download_hosts = allow_hosts
        self._sandbox = sandbox

    def images_of(self, status: TaskStatus) -> list[SavedImage]:
        expires = _iso(time.time() + URL_LIFETIME_SECONDS)
        return [SavedImage(i, img.url, expires, None) for i, img in enumerate(status.images)]

    async def save(
        self, image: SavedImage, status: TaskStatus, params: TaskParams, cost: Cost, out_dir: OutputFolder
    ) -> None:
        if image.url is None:
            return
        dest = out_dir.path / image_filename(status.id, image.index, "png")
        try:
            saved = await download_to(
                self._http, image.url, dest, max_bytes=self._settings.max_download_bytes,
                timeout=self._settings.request_timeout, allow_hosts=self._download_hosts,
                # A body that trickles in never trips the per-read timeout: bound the whole download too.
                total_timeout=self._settings.request_timeout * DOWNLOAD_TIMEOUT_FACTOR,
            )
        except (CoreError, OSError) as exc:
            image.save_error = str(exc)
            return
        image.path, image.width, image.height, image.size_bytes = saved.path, saved.width, saved.height, saved.bytes
        image.content_type, image.sha256 = saved.content_type, saved.sha256
        sidecar = {
            "task_id": status.id,
            "index": image.index,
            "model": "gpt-image-2",
            **params.model_dump(mode="json"),
            "url": image.url,
            "url_expires_at": image.url_expires_at,
            "width": saved.width,
            "height": saved.height,
            "sha256": saved.sha256,
            "cost_usd": cost.usd,
            "cost_basis": cost.basis,
            "sandbox": self._sandbox,
        }
        await anyio.to_thread.run_sync(write_sidecar, saved.path, sidecar)
        if self._settings.preview_max_side > 0:
            image.preview = await make_preview_async(saved.path, self._settings.preview_max_side)


def image_record(image: SavedImage) -> ImageRecord:
    return ImageRecord(
        index=image.index,
        url=image.url,
        url_expires_at=image.url_expires_at,
        path=str(image.path) if image.path else None,
        width=image.width,
        height=image.height,
        size_bytes=image.size_bytes,
        content_type=image.content_type,
        sha256=image.sha256,
    )


def files_present(entry: TaskRow) -> bool:
    return bool(entry.images) and all(i.path and Path(i.path).is_file() for i in entry.images)


def outcome_from_entry(entry: TaskRow) -> TaskOutcome:
    images = [
        SavedImage(
            index=r.index, url=r.url, url_expires_at=r.url_expires_at, path=Path(r.path) if r.path else None,
            width=r.width, height=r.height, size_bytes=r.size_bytes, content_type=r.content_type, sha256=r.sha256,
        )
        for r in entry.images
    ]
    cost = Cost(entry.cost_cents / 100, "charged", "from the task history") if entry.cost_cents is not None else None
    return TaskOutcome(action=entry.action, idempotency_key=entry.idempotency_key, task_id=entry.task_id,
                       status=entry.status, images=images, cost=cost)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
