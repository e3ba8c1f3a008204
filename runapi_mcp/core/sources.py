"""Turn edit_image's `images` references into `source_image_urls` RunAPI can fetch.

Local files and data: URIs are uploaded through RunAPI's temporary-file API; an upload is reused, by
content hash, until shortly before it expires. URLs pass through as they are (after the public-address
check), and `task:` references reuse an earlier result's URL, or re-upload its saved file once the URL
has expired.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path

import anyio

from runapi_mcp.core.concurrency import gather
from runapi_mcp.core.errors import InputError
from runapi_mcp.core.images import EXTENSIONS
from runapi_mcp.core.journal import Journal, SourceRef, stored_reference
from runapi_mcp.core.references import DataImage, LocalImage, RemoteImage, TaskImageRef, parse_image_ref
from runapi_mcp.core.types import Workspace
from runapi_mcp.runapi.client import RunAPIClient
from runapi_mcp.runapi.models import MAX_SOURCE_IMAGES

# An upload this close to its expiry is not reused: the task may start after it has gone.
REUSE_MARGIN_SECONDS = 3600


class SourceResolver:
    def __init__(
        self,
        client: RunAPIClient,
        journal: Journal,
        *,
        max_bytes: int,
        allow_hosts: Sequence[str] = (),
        owner: str | None = None,
        cache: dict[str, tuple[str, float]] | None = None,
    ) -> None:
        self._client = client
        self._journal = journal
        self._max_bytes = max_bytes
        self._allow_hosts = tuple(allow_hosts)
        self._owner = owner
        # sha256 -> (url, expires_at epoch); shared across calls by the server.
        self._cache = {} if cache is None else cache
        # One upload per content at a time: 16 copies of one file in a call (resolved side by side) upload once.
        self._uploading: dict[str, anyio.Lock] = {}

    async def resolve(self, refs: Sequence[str], workspace: Workspace) -> tuple[SourceRef, ...]:
        """What RunAPI is sent for each reference: its URL, with the reference as the journal keeps it."""
        if not 1 <= len(refs) <= MAX_SOURCE_IMAGES:
            raise InputError(f"images needs 1 to {MAX_SOURCE_IMAGES} references; got {len(refs)}.")
        return tuple(await gather([partial(self._resolve_one, ref, workspace) for ref in refs]))

    async def _resolve_one(self, ref: str, workspace: Workspace) -> SourceRef:
        parsed = await anyio.to_thread.run_sync(
            lambda: parse_image_ref(
                ref,
                working_dir=workspace.working_dir,
                roots=workspace.roots,
                max_bytes=self._max_bytes,
                allow_hosts=self._allow_hosts,
            )
        )
        if isinstance(parsed, RemoteImage):
            return SourceRef(reference=ref, url=parsed.url)
        if isinstance(parsed, TaskImageRef):
            url, digest = await self._from_task(parsed)
            return SourceRef(reference=ref, url=url, sha256=digest)
        extension = EXTENSIONS.get(parsed.mime_type, "png")
        name = parsed.path.name if isinstance(parsed, LocalImage) else f"image.{extension}"
        url = await self._upload(parsed, name)
        return SourceRef(reference=stored_reference(ref, parsed.sha256), url=url, sha256=parsed.sha256)

    async def _upload(self, image: LocalImage | DataImage, name: str) -> str:
        async with self._uploading.setdefault(image.sha256, anyio.Lock()):
            cached = self._cache.get(image.sha256)
            if cached and cached[1] - REUSE_MARGIN_SECONDS > time.time():
                return cached[0]
            temp = await self._client.upload_file(image.data, filename=name, content_type=image.mime_type)
            self._cache[image.sha256] = (temp.url, _expiry(temp.expires_at))
            return temp.url

    async def _from_task(self, ref: TaskImageRef) -> tuple[str, str | None]:
        entry = await self._journal.get(ref.task_id, owner=self._owner)
        index = ref.index or 0
        if entry is None or entry.status != "completed":
            raise InputError(
                f"task:{ref.task_id} is not a completed task in your history. "
                "Call get_task with that id first, then use the reference again."
            )
        if not 0 <= index < len(entry.images):
            raise InputError(f"task:{ref.task_id} has {len(entry.images)} image(s); index {index} does not exist.")
        record = entry.images[index]
        url, expires, path = record.url, record.url_expires_at, record.path
        if url and (expires is None or _expiry(expires) - REUSE_MARGIN_SECONDS > time.time()):
            return url, record.sha256
        if path and await anyio.Path(path).is_file():
            local = await anyio.to_thread.run_sync(
                lambda: parse_image_ref(
                    str(path), working_dir=Path(path).parent, roots=(Path(path).parent,), max_bytes=self._max_bytes
                )
            )
            if isinstance(local, LocalImage):
                return await self._upload(local, local.path.name), local.sha256
        raise InputError(f"The image of task:{ref.task_id} has expired and is not saved locally; generate it again.")


def _expiry(value: str | None) -> float:
    if not value:
        return time.time() + 24 * 3600
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time() + 24 * 3600
