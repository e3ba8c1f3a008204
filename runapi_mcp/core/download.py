"""Streamed, size-capped downloads of result images into the output folder.

Only public http(s) addresses (and the configured RunAPI origin), checked again on every redirect; the
content must really be an image; the file appears atomically and never replaces another.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import httpx2

from runapi_mcp.core.errors import DownloadError, InputError
from runapi_mcp.core.files import move_to_free_name
from runapi_mcp.core.images import EXTENSIONS, ImageFacts, NotAnImageError, identify_image
from runapi_mcp.core.urlsafety import check_download_url
from runapi_mcp.text import megabytes
from runapi_mcp.urls import display_url

MAX_REDIRECTS = 5
# Declared types we accept before looking at the bytes; anything else (an HTML error page, JSON) is refused.
_GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_WRITE_BATCH = 1024 * 1024


@dataclass(frozen=True)
class SavedFile:
    path: Path  # where the image really went: the extension follows the content, and names never collide
    bytes: int
    sha256: str
    content_type: str  # the type found in the content (image/png...), not the server's header
    width: int
    height: int


async def download_to(
    http: httpx2.AsyncClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 - per network step (httpx); total_timeout is the overall deadline
    allow_hosts: Collection[str] = (),
    total_timeout: float | None = None,
    dir_fd: int | None = None,
) -> SavedFile:
    """Stream the image at `url` into `dest`'s folder; raise DownloadError saying why it was not saved.

    Only public http(s) addresses (and hosts in `allow_hosts`), checked again on every redirect; the
    body is capped at `max_bytes` as it arrives; the content must be a PNG/JPEG/WEBP/GIF image. The
    file appears atomically under `dest`, with its extension matching the content and `-2`, `-3`...
    appended if the name is taken. `timeout` bounds each network step; `total_timeout`, when given,
    the whole download. Requests are built here, not from the client's defaults, so no header of the
    RunAPI client (never the API key) goes to the image host. With `dir_fd` (`dest`'s folder, open) every
    file operation is relative to it, never through the folder's path.
    """
    fetch = partial(
        _download, http, url, dest, max_bytes=max_bytes, timeout=timeout, allow_hosts=allow_hosts, dir_fd=dir_fd
    )
    if total_timeout is None:
        return await fetch()
    try:
        with anyio.fail_after(total_timeout):
            return await fetch()
    except TimeoutError:
        raise DownloadError(
            f"Downloading {display_url(url)} took longer than {total_timeout:g}s. Try again later.", retryable=True
        ) from None


async def _download(
    http: httpx2.AsyncClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 - see download_to
    allow_hosts: Collection[str],
    dir_fd: int | None,
) -> SavedFile:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            await anyio.to_thread.run_sync(partial(check_download_url, current, allow_hosts))
        except InputError as exc:
            raise DownloadError(str(exc)) from None
        try:
            request = httpx2.Request(
                "GET",
                current,
                headers={"Accept": "image/png,image/jpeg,image/webp,image/gif;q=0.9,*/*;q=0.1"},
                extensions={"timeout": httpx2.Timeout(timeout).as_dict()},
            )
            response = await http.send(request, stream=True, follow_redirects=False, auth=None)
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    current = str(response.url.join(location))
                    continue
                return await _save_body(response, url, dest, max_bytes, dir_fd)
            finally:
                await response.aclose()
        except httpx2.TimeoutException:
            raise DownloadError(
                f"Downloading {display_url(url)} timed out after {timeout:g}s. Try again later.", retryable=True
            ) from None
        except httpx2.TransportError as exc:
            raise DownloadError(
                f"Downloading {display_url(url)} failed: {type(exc).__name__}. Try again later.", retryable=True
            ) from None
        except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
            raise DownloadError(f"Downloading {display_url(url)} failed: {exc}.") from None
    raise DownloadError(f"Downloading {display_url(url)} failed: more than {MAX_REDIRECTS} redirects.")


async def _save_body(response: httpx2.Response, url: str, dest: Path, max_bytes: int, dir_fd: int | None) -> SavedFile:
    shown = display_url(url)
    status = response.status_code
    if status != 200:
        retryable = status == 429 or status >= 500
        expired = " The URL may have expired." if status in (403, 404, 410) else ""
        raise DownloadError(f"Downloading {shown} failed: HTTP {status}.{expired}", retryable=retryable)
    declared = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared and not declared.startswith("image/") and declared not in _GENERIC_TYPES:
        raise DownloadError(f"Downloading {shown} failed: the server sent {declared}, not an image.")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise DownloadError(_too_big(shown, max_bytes))

    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")
    committed = False
    digest = hashlib.sha256()
    size = 0
    try:
        try:
            async with await anyio.open_file(await anyio.to_thread.run_sync(_create, tmp, dir_fd), "wb") as fh:
                buffer = bytearray()
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise DownloadError(_too_big(shown, max_bytes))
                    digest.update(chunk)
                    buffer += chunk
                    if len(buffer) >= _WRITE_BATCH:
                        await fh.write(bytes(buffer))
                        buffer.clear()
                await fh.write(bytes(buffer))
                await fh.flush()
                await anyio.to_thread.run_sync(os.fsync, fh.wrapped.fileno())
        except OSError as exc:
            raise DownloadError(_write_failed(dest, exc)) from None
        try:
            info = await anyio.to_thread.run_sync(_identify, tmp, dir_fd)
        except NotAnImageError as exc:
            raise DownloadError(f"Downloading {shown} failed: {exc}.") from None
        final = dest.with_suffix("." + EXTENSIONS[info.mime_type])
        try:
            path = await anyio.to_thread.run_sync(partial(move_to_free_name, tmp, final, dir_fd=dir_fd))
        except OSError as exc:
            raise DownloadError(_write_failed(dest, exc)) from None
        committed = True
    finally:
        if not committed:
            with contextlib.suppress(OSError):
                os.unlink(tmp.name if dir_fd is not None else tmp, dir_fd=dir_fd)
    return SavedFile(path, size, digest.hexdigest(), info.mime_type, info.width, info.height)


def _create(tmp: Path, dir_fd: int | None) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    return os.open(tmp.name if dir_fd is not None else tmp, flags, 0o644, dir_fd=dir_fd)


def _identify(tmp: Path, dir_fd: int | None) -> ImageFacts:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    with os.fdopen(os.open(tmp.name if dir_fd is not None else tmp, flags, dir_fd=dir_fd), "rb") as fh:
        return identify_image(fh)


def _too_big(shown: str, max_bytes: int) -> str:
    return (
        f"Downloading {shown} stopped: the image is larger than the {megabytes(max_bytes)} cap. "
        "Raise RUNAPI_MCP_MAX_DOWNLOAD_MB to save it."
    )


def _write_failed(dest: Path, exc: OSError) -> str:
    why = exc.strerror or exc
    return f"Could not write the image into {dest.parent}: {why}. Free some space or pass another output_dir."
