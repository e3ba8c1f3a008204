"""Saving a completed task's images: streamed download, sidecar, preview; and reading saved results back.

The task exists and is paid for by the time anything here runs, so nothing here may fail it: an image that
cannot be saved keeps its URL and says why, a sidecar that cannot be written is logged, and the preview is
optional.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from functools import partial
from pathlib import Path

import anyio
import httpx2

from runapi_mcp.core.config import CoreConfig
from runapi_mcp.core.download import download_to
from runapi_mcp.core.errors import CoreError
from runapi_mcp.core.files import EscapedRootError, image_filename, open_folder, write_sidecar
from runapi_mcp.core.images import Preview, PreviewSkipped, make_preview_async
from runapi_mcp.core.journal import ImageRecord, TaskRow
from runapi_mcp.core.journal.claims import SaveClaims
from runapi_mcp.core.save_claims import SAVE_LEASE_SECONDS, SaveCoordinator, StillSaving
from runapi_mcp.core.types import Cost, SavedImage, TaskOutcome, TaskRun

log = logging.getLogger(__name__)

# A whole download may take this many request timeouts (60 s by default).
DOWNLOAD_TIMEOUT_FACTOR = 2
# RunAPI keeps output URLs for 7 days.
URL_LIFETIME_SECONDS = 7 * 24 * 3600


# One save per result image at a time in this process: concurrent follows of one task (two get_task calls,
# a generate replay beside a get_task) wait for the first and reuse its file instead of saving a copy.
# Across processes sharing a journal, its save claims do the same (save_claims.py).
class _ImageSave:
    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.record: ImageRecord | None = None  # what the first save made, before the journal has it


_SAVING: weakref.WeakValueDictionary[tuple[str, int], _ImageSave] = weakref.WeakValueDictionary()


class ResultSaver:
    def __init__(
        self,
        http: httpx2.AsyncClient,
        config: CoreConfig,
        *,
        allow_hosts: tuple[str, ...],
        sandbox: bool,
        claims: SaveClaims | None = None,
        claim_lease: float = SAVE_LEASE_SECONDS,
    ):
        self._http = http
        self._config = config
        self._download_hosts = allow_hosts
        self._sandbox = sandbox
        # A waiter gives up after the holder's longest legitimate save, plus one lease for a dead holder.
        longest = config.request_timeout * DOWNLOAD_TIMEOUT_FACTOR + claim_lease
        self._once = SaveCoordinator(claims, lease=claim_lease, max_wait=longest)

    async def save(self, run: TaskRun, task_id: str, index: int, url: str | None, cost: Cost) -> SavedImage:
        """One result image, saved into the run's folder when it can be; never raises for a failed save."""
        entry = _SAVING.setdefault((task_id, index), _ImageSave())
        async with entry.lock:
            saved = await self._saved_before(entry.record)
            if saved is not None:
                return await self._with_preview(saved)
            try:
                image = await self._once.once(
                    task_id, index, partial(self._save, run, task_id, index, url, cost), self._reuse
                )
            except StillSaving:
                record = ImageRecord(index=index, url=url, url_expires_at=_iso(time.time() + URL_LIFETIME_SECONDS))
                return SavedImage(
                    record,
                    save_error="another runapi-mcp process is still saving it; "
                    f"call get_task with task_id '{task_id}' in a moment for its path",
                )
            if image.path is not None:
                entry.record = image.record
            return image

    async def _reuse(self, record: ImageRecord) -> SavedImage | None:
        """The image another process saved, when its file is still there."""
        saved = await self._saved_before(record)
        return None if saved is None else await self._with_preview(saved)

    @staticmethod
    async def _saved_before(just_saved: ImageRecord | None) -> ImageRecord | None:
        """The image as a concurrent follow saved it a moment ago (the journal has it only once all are saved)."""
        if just_saved is not None and just_saved.path and await anyio.Path(just_saved.path).is_file():
            return just_saved
        return None

    async def _save(self, run: TaskRun, task_id: str, index: int, url: str | None, cost: Cost) -> SavedImage:
        record = ImageRecord(index=index, url=url, url_expires_at=_iso(time.time() + URL_LIFETIME_SECONDS))
        if url is None:
            return SavedImage(record, save_error="RunAPI gave no URL for it")
        try:
            # Every write below goes through this descriptor: a folder swapped for a symlink later cannot
            # redirect the files.
            dir_fd = await anyio.to_thread.run_sync(open_folder, run.folder.path, run.folder.anchor)
        except OSError as exc:
            why = "it changed while it was opened" if isinstance(exc, EscapedRootError) else exc.strerror or exc
            return SavedImage(record, save_error=f"the output folder {run.folder.path} cannot be used: {why}")
        try:
            return await self._save_into(run, task_id, record, cost, dir_fd)
        finally:
            os.close(dir_fd)

    async def _save_into(self, run: TaskRun, task_id: str, record: ImageRecord, cost: Cost, dir_fd: int) -> SavedImage:
        dest = run.folder.path / image_filename(task_id, record.index, "png")
        try:
            saved = await download_to(
                self._http,
                str(record.url),
                dest,
                max_bytes=self._config.max_download_bytes,
                timeout=self._config.request_timeout,
                allow_hosts=self._download_hosts,
                # A body that trickles in never trips the per-read timeout: bound the whole download too.
                total_timeout=self._config.request_timeout * DOWNLOAD_TIMEOUT_FACTOR,
                dir_fd=dir_fd,
            )
        except (CoreError, OSError) as exc:
            return SavedImage(record, save_error=str(exc))
        except Exception as exc:  # the task is paid for: an unforeseen failure here still only loses the file
            log.exception("saving image %d of %s failed", record.index, task_id)
            return SavedImage(record, save_error=f"it could not be saved ({type(exc).__name__})")
        record = record.model_copy(
            update={
                "path": str(saved.path),
                "width": saved.width,
                "height": saved.height,
                "size_bytes": saved.bytes,
                "content_type": saved.content_type,
                "sha256": saved.sha256,
            }
        )
        await self._write_sidecar(run, task_id, record, cost, dir_fd)
        return await self._with_preview(record)

    async def _write_sidecar(self, run: TaskRun, task_id: str, record: ImageRecord, cost: Cost, dir_fd: int) -> None:
        sidecar = {
            "task_id": task_id,
            "model": "gpt-image-2",
            **run.params.model_dump(mode="json"),
            **record.model_dump(mode="json", exclude={"path"}),
            "cost_usd": cost.usd,
            "cost_basis": cost.basis,
            "sandbox": self._sandbox,
        }
        try:
            await anyio.to_thread.run_sync(partial(write_sidecar, Path(str(record.path)), sidecar, dir_fd=dir_fd))
        except OSError as exc:
            log.warning("the sidecar of %s could not be written: %s", record.path, exc.strerror or exc)
        except Exception:  # the sidecar is a convenience copy of what the journal holds
            log.exception("the sidecar of %s could not be written", record.path)

    async def _with_preview(self, record: ImageRecord) -> SavedImage:
        try:
            return SavedImage(record, preview=await self._preview(Path(str(record.path))))
        except PreviewSkipped as skipped:
            return SavedImage(record, note=str(skipped))

    async def _preview(self, path: Path) -> Preview | None:
        """The preview, None when it cannot be made; raises PreviewSkipped when the image is too big for one."""
        if self._config.preview_max_side <= 0:
            return None
        try:
            return await make_preview_async(path, self._config.preview_max_side)
        except PreviewSkipped:
            raise
        except (CoreError, OSError) as exc:
            log.warning("no preview of %s: %s", path, exc)
            return None
        except Exception as exc:  # Pillow fails damaged data in more ways than it documents (AssertionError...)
            log.warning("no preview of %s: %s", path, type(exc).__name__)
            return None


def files_present(row: TaskRow) -> bool:
    return bool(row.images) and all(i.path and Path(i.path).is_file() for i in row.images)


def outcome_from_row(row: TaskRow) -> TaskOutcome:
    cost = Cost(row.cost_cents / 100, "charged", "from the task history") if row.cost_cents is not None else None
    return TaskOutcome(
        action=row.action,
        idempotency_key=row.idempotency_key,
        task_id=row.task_id,
        status=row.status,
        images=tuple(SavedImage(record) for record in row.images),
        cost=cost,
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
