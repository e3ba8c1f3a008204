"""Result images on a hosted server: replicas sharing one database (RUNAPI_MCP_DATABASE_URL) and no disk.

A path on one replica's disk means nothing on another, so a hosted result is recorded as RunAPI's URL,
its expiry, the size, digest and content type; one replica downloads each image once (the store's claim),
keeps its preview (and its bytes, when small enough) in the database, and every replica answers from
there. Reads of an image come from the store, else from RunAPI's URL while it is valid, fetched with the
same public-address checks and header-less requests as every download (the RunAPI key never goes there).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import anyio
import httpx2

from runapi_mcp.core.config import CoreConfig
from runapi_mcp.core.download import download_to
from runapi_mcp.core.errors import CoreError, InputError
from runapi_mcp.core.images import Preview, image_size, make_preview_async
from runapi_mcp.core.journal import ImageRecord, TaskRow
from runapi_mcp.core.previews_store import STORED_IMAGE_MAX_BYTES, PreviewStore, StoredImage
from runapi_mcp.core.saving import DOWNLOAD_TIMEOUT_FACTOR, URL_LIFETIME_SECONDS, ResultSaver, outcome_from_row
from runapi_mcp.core.types import Cost, SavedImage, TaskOutcome, TaskRun

log = logging.getLogger(__name__)

# How often a replica that did not win the claim looks whether the winner has stored the image.
WAIT_POLL_SECONDS = 0.2


class HostedSaver(ResultSaver):
    """`ResultSaver` for a hosted server: the image goes to the shared store, never into a folder."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        config: CoreConfig,
        *,
        allow_hosts: tuple[str, ...],
        sandbox: bool,
        store: PreviewStore,
        owner: str,
    ) -> None:
        super().__init__(http, config, allow_hosts=allow_hosts, sandbox=sandbox)
        self._store = store
        self._owner = owner
        self._fetch = ImageFetcher(http, config, allow_hosts)
        self._budget = config.request_timeout * DOWNLOAD_TIMEOUT_FACTOR

    async def save(self, run: TaskRun, task_id: str, index: int, url: str | None, cost: Cost) -> SavedImage:
        record = ImageRecord(index=index, url=url, url_expires_at=_iso(time.time() + URL_LIFETIME_SECONDS))
        if url is None:
            return SavedImage(record, save_error="RunAPI gave no URL for it")
        deadline = time.monotonic() + self._budget
        while True:
            now = time.time()
            if await self._store.claim(task_id, index, self._owner, now=now, stale_before=now - self._budget):
                return await self._download(task_id, record, url)
            found = await self._store.get(task_id, index)
            if found is not None and found.stored:
                return await _saved(record, found)
            if time.monotonic() >= deadline:
                # Another replica is still at it: answer with the URL rather than download a second copy.
                return SavedImage(record, save_error="another server is still storing it")
            await anyio.sleep(WAIT_POLL_SECONDS)

    async def _download(self, task_id: str, record: ImageRecord, url: str) -> SavedImage:
        try:
            data, facts = await self._fetch.fetch(url)
        except (CoreError, OSError) as exc:
            await self._store.release(task_id, record.index)
            return SavedImage(record, save_error=str(exc))
        preview = await self._preview_of(data)
        stored = StoredImage(
            size_bytes=len(data),
            sha256=facts.sha256,
            content_type=facts.content_type,
            width=facts.width,
            height=facts.height,
            preview=preview.data if preview else None,
            preview_mime=preview.mime_type if preview else None,
            data=data if len(data) <= STORED_IMAGE_MAX_BYTES else None,
            stored_at=time.time(),
            claimed_at=time.time(),
        )
        await self._store.store(task_id, record.index, stored)
        return await _saved(record, stored)

    async def _preview_of(self, data: bytes) -> Preview | None:
        if self._config.preview_max_side <= 0:
            return None
        try:
            return await make_preview_async(data, self._config.preview_max_side)
        except (CoreError, OSError, ValueError) as exc:
            log.warning("no preview of a stored image: %s", exc)
            return None


class HostedImages:
    """Reading hosted results back: a completed row with its kept previews, and one image's bytes."""

    def __init__(self, store: PreviewStore, fetcher: ImageFetcher) -> None:
        self._store = store
        self._fetch = fetcher

    async def outcome(self, row: TaskRow) -> TaskOutcome | None:
        """The completed task as every replica answers it, or None when the row has no image to answer with."""
        if not row.images or row.task_id is None:
            return None
        previews = await self._store.previews(row.task_id)
        base = outcome_from_row(row)
        images: list[SavedImage] = []
        for image in base.images:
            images.append(SavedImage(image.record, preview=await _preview_async(previews.get(image.index))))
        return TaskOutcome(
            action=base.action,
            idempotency_key=base.idempotency_key,
            task_id=base.task_id,
            status=base.status,
            images=tuple(images),
            cost=base.cost,
        )

    async def image_bytes(self, row: TaskRow, index: int) -> bytes:
        record = row.images[index]
        task_id = row.task_id or ""
        found = await self._store.get(task_id, index)
        if found is not None and found.data is not None:
            return found.data
        if not record.url:
            raise InputError(f"Image {index} of task '{task_id}' has no URL at RunAPI; generate it again.")
        if expired(record.url_expires_at):
            raise InputError(
                f"Image {index} of task '{task_id}': RunAPI's URL expired at {record.url_expires_at} and no copy "
                "is kept on this server; generate it again."
            )
        data, _ = await self._fetch.fetch(record.url)
        return data


class ImageFacts:
    def __init__(self, sha256: str, content_type: str, width: int, height: int) -> None:
        self.sha256, self.content_type, self.width, self.height = sha256, content_type, width, height


class ImageFetcher:
    """An image at a URL, as bytes: through `download_to` (public-address checks on every redirect, the size
    cap, content sniffing, no RunAPI header) into a private scratch folder that is removed at once."""

    def __init__(self, http: httpx2.AsyncClient, config: CoreConfig, allow_hosts: tuple[str, ...]) -> None:
        self._http = http
        self._config = config
        self._allow_hosts = allow_hosts

    async def fetch(self, url: str) -> tuple[bytes, ImageFacts]:
        scratch = Path(await anyio.to_thread.run_sync(tempfile.mkdtemp))
        try:
            saved = await download_to(
                self._http,
                url,
                scratch / "image.png",
                max_bytes=self._config.max_download_bytes,
                timeout=self._config.request_timeout,
                allow_hosts=self._allow_hosts,
                total_timeout=self._config.request_timeout * DOWNLOAD_TIMEOUT_FACTOR,
            )
            data = await anyio.Path(saved.path).read_bytes()
        finally:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(scratch, ignore_errors=True))
        return data, ImageFacts(saved.sha256, saved.content_type, saved.width, saved.height)


def expired(expires_at: str | None, *, now: float | None = None) -> bool:
    if not expires_at:
        return False
    try:
        moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    return moment <= (time.time() if now is None else now)


async def _saved(record: ImageRecord, stored: StoredImage) -> SavedImage:
    full = record.model_copy(
        update={
            "width": stored.width,
            "height": stored.height,
            "size_bytes": stored.size_bytes,
            "content_type": stored.content_type,
            "sha256": stored.sha256,
        }
    )
    preview = await _preview_async((stored.preview, stored.preview_mime or "image/jpeg") if stored.preview else None)
    return SavedImage(full, preview=preview)


async def _preview_async(found: tuple[bytes, str] | None) -> Preview | None:
    if found is None:
        return None
    width, height = await anyio.to_thread.run_sync(image_size, found[0]) or (0, 0)
    return Preview(data=found[0], mime_type=found[1], width=width, height=height)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
