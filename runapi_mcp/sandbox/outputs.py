"""Edit sources and task outputs: which bytes an edit combines, and the PNG (or corrupt image) a task yields."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from runapi_mcp.sandbox.corrupt import broken_png, truncated_jpeg
from runapi_mcp.sandbox.encoding import decode_data_uri, is_data_uri
from runapi_mcp.sandbox.files import FILES_PREFIX, FileStore, StoredFile
from runapi_mcp.sandbox.origin import Origin
from runapi_mcp.sandbox.render import RenderSpec, SourceTile, render_png
from runapi_mcp.sandbox.render_cache import RenderCache
from runapi_mcp.sandbox.tasks import ExternalSource, InlineSource, OutputSource, SourceRef, Task
from runapi_mcp.sandbox.validation import CreateRequest

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Outputs:
    def __init__(self, files: FileStore, tasks: dict[str, Task]) -> None:
        self.files = files
        self.tasks = tasks
        self.renders = RenderCache()
        # Digests of every output served, so an edit whose source is a downloaded-and-uploaded output is
        # recognised and tiled from a clean render (without that output's caption, badge and footer).
        self._outputs_by_digest: dict[str, str] = {}
        self.on_digest: Callable[[str, str], None] = lambda digest, task_id: None

    def restore_digests(self, digests: dict[str, str]) -> None:
        self._outputs_by_digest.update(digests)

    # -- sources ----------------------------------------------------------------------------------------

    def resolve_sources(
        self, urls: tuple[str, ...], origin: Origin, now: float
    ) -> tuple[tuple[SourceRef, ...], str | None]:
        """The edit's sources, and the failure message when one of them cannot be read."""
        refs: list[SourceRef] = []
        failure: str | None = None
        for index, url in enumerate(urls):
            if is_data_uri(url):
                refs.append(self._inline(decode_data_uri(url)[1], "data: URI"))
                continue
            file_id = self.own_file_id(url, origin)
            if file_id is None:
                refs.append(ExternalSource(url))
                continue
            stored = self.files.find(file_id)
            if stored is None or now >= stored.expires_at:
                why = "was not found" if stored is None else "has expired"
                failure = failure or f"Could not download source_image_urls[{index}]: the URL {why}"
                refs.append(ExternalSource(url))
            elif stored.output_of is not None:
                refs.append(OutputSource(stored.output_of))
            else:
                refs.append(self._inline(stored.data or b"", stored.name))
        return tuple(refs), failure

    def _inline(self, data: bytes, label: str) -> SourceRef:
        task_id = self._outputs_by_digest.get(hashlib.sha256(data).hexdigest())
        return OutputSource(task_id) if task_id is not None else InlineSource(data, label)

    @staticmethod
    def own_file_id(url: str, origin: Origin) -> str | None:
        parts = urlsplit(url)
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
        except ValueError:
            return None
        host = (parts.hostname or "").lower()
        same_host = host == origin.host.lower() or (host in _LOOPBACK and origin.host.lower() in _LOOPBACK)
        if not same_host or port != origin.port or not parts.path.startswith(FILES_PREFIX):
            return None
        file_id = unquote(parts.path[len(FILES_PREFIX) :]).split("/", 1)[0]
        return file_id or None

    def render_key(self, request: CreateRequest, sources: tuple[SourceRef, ...]) -> str:
        digests: list[str] = []
        for source in sources:
            if isinstance(source, InlineSource):
                digests.append("bytes:" + hashlib.sha256(source.data).hexdigest())
            elif isinstance(source, OutputSource):
                digests.append("output:" + self.tasks[source.task_id].render_key)
            else:
                digests.append("url:" + source.url)
        material = [request.action, request.prompt, request.aspect_ratio, request.output_resolution, digests]
        return hashlib.sha256(json.dumps(material).encode()).hexdigest()

    # -- rendering --------------------------------------------------------------------------------------

    async def output_png(self, task: Task, *, marked: bool = True) -> bytes:
        """The task's image; `marked=False` leaves out the caption, badge and footer (for use as a tile)."""

        async def build() -> bytes:
            tiles = [await self._tile(source) for source in task.sources]
            spec = RenderSpec(
                action=task.action,
                prompt=task.request.prompt,
                aspect_ratio=task.request.aspect_ratio,
                output_resolution=task.request.output_resolution,
                sources=tuple(tiles),
                marked=marked,
            )
            data = await anyio.to_thread.run_sync(render_png, spec)
            if marked:
                digest = hashlib.sha256(data).hexdigest()
                self._outputs_by_digest[digest] = task.id
                self.on_digest(digest, task.id)
            return data

        return await self.renders.get(task.render_key + ("" if marked else ":clean"), build)

    async def corrupt_image(self, task: Task, image_format: str) -> bytes:
        """The task's image made undecodable: a truncated JPEG, or a PNG with valid CRCs and broken pixels."""
        good = await self.output_png(task)
        damage = truncated_jpeg if image_format == "jpeg" else broken_png

        async def build() -> bytes:
            return await anyio.to_thread.run_sync(damage, good)

        return await self.renders.get(f"{task.render_key}:bad-{image_format}", build)

    async def _tile(self, source: SourceRef) -> SourceTile:
        if isinstance(source, InlineSource):
            return SourceTile(source.data, source.label)
        if isinstance(source, OutputSource):
            return SourceTile(await self.output_png(self.tasks[source.task_id], marked=False), "earlier output")
        host = urlsplit(source.url).hostname or "?"
        return SourceTile(None, f"outside image\n{host}\nnot fetched by the sandbox")

    async def file_bytes(self, stored: StoredFile) -> bytes:
        if stored.data is not None:
            return stored.data
        if stored.output_of is None:
            raise RuntimeError(f"file {stored.id} has neither bytes nor a task")
        task = self.tasks[stored.output_of]
        if task.bad_image is not None:
            return await self.corrupt_image(task, task.bad_image)
        return await self.output_png(task)
