"""Where result images go and how they get there: the output folder, streamed downloads, JSON sidecars.

Files appear atomically (written under a temporary name in the same folder, then renamed) and never
replace an existing file, so a crash or a second server process cannot leave a half-written image or
overwrite one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx2

from runapi_mcp.core.errors import DownloadError, InputError
from runapi_mcp.core.imaging import EXTENSIONS, NotAnImageError, identify_image
from runapi_mcp.core.paths import (
    inside,
    is_filesystem_root,
    outside_roots_error,
    resolve_user_path,
    usable_roots,
)
from runapi_mcp.core.urlsafety import check_download_url
from runapi_mcp.urls import display_url

DEFAULT_FOLDER_NAME = "runapi-images"
OUTPUT_DIR_SETTING = "RUNAPI_MCP_OUTPUT_DIR"
MAX_REDIRECTS = 5
# Declared types we accept before looking at the bytes; anything else (an HTML error page, JSON) is refused.
_GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_WRITE_BATCH = 1024 * 1024
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class OutputDir:
    path: Path
    # Set when files go somewhere other than asked or expected: say so in the result.
    note: str | None = None


@dataclass(frozen=True)
class SavedFile:
    path: Path  # where the image really went: the extension follows the content, and names never collide
    bytes: int
    sha256: str
    content_type: str  # the type found in the content (image/png...), not the server's header
    width: int
    height: int


# ---- the output folder ----------------------------------------------------------------------------


def resolve_output_dir(
    requested: str | None,
    *,
    settings_output_dir: Path | None,
    working_dir: Path,
    roots: Sequence[Path],
    fallback_dir: Path,
) -> OutputDir:
    """The folder to save into, created if needed.

    `requested` (a tool's `output_dir`, relative to `working_dir`) must resolve inside `roots`, or
    InputError. Without it: `settings_output_dir`, else `<working_dir>/runapi-images`; when that cannot
    be used (the working directory is `/` or read-only) files go to `fallback_dir`, with a note saying so.
    Blocking (mkdir): call it in a worker thread, or use `resolve_output_dir_async`.
    """
    if requested is not None and requested.strip():
        return OutputDir(_requested_dir(requested.strip(), working_dir, roots))
    if settings_output_dir is not None:
        configured = settings_output_dir.expanduser()
        if not configured.is_absolute():
            configured = working_dir / configured
        try:
            return OutputDir(_ensure_dir(configured, OUTPUT_DIR_SETTING))
        except InputError as exc:
            return _fallback(fallback_dir, f"{OUTPUT_DIR_SETTING} could not be used: {exc}")
    if is_filesystem_root(working_dir.resolve()):
        return _fallback(fallback_dir, f"the server's working directory is the filesystem root ({working_dir})")
    if not _writable(working_dir):
        return _fallback(fallback_dir, f"the server's working directory ({working_dir}) is not writable")
    try:
        return OutputDir(_ensure_dir(working_dir / DEFAULT_FOLDER_NAME, "The default output folder"))
    except InputError as exc:
        return _fallback(fallback_dir, str(exc))


async def resolve_output_dir_async(
    requested: str | None,
    *,
    settings_output_dir: Path | None,
    working_dir: Path,
    roots: Sequence[Path],
    fallback_dir: Path,
) -> OutputDir:
    return await anyio.to_thread.run_sync(
        partial(
            resolve_output_dir,
            requested,
            settings_output_dir=settings_output_dir,
            working_dir=working_dir,
            roots=roots,
            fallback_dir=fallback_dir,
        )
    )


def _requested_dir(requested: str, working_dir: Path, roots: Sequence[Path]) -> Path:
    allowed = usable_roots(roots, working_dir)
    path = resolve_user_path(requested, working_dir)
    if not inside(path, allowed):
        error = outside_roots_error("output_dir", requested, allowed)
        if is_filesystem_root(working_dir.resolve()) and not Path(requested).expanduser().is_absolute():
            error = InputError(
                f"{error} The server runs in {working_dir}, so a relative output_dir has no project to point into."
            )
        raise error
    created = _ensure_dir(path, "output_dir")
    # A symlink swapped in while the folders were being made must not lead outside after all.
    if not inside(created, allowed):
        raise outside_roots_error("output_dir", requested, allowed)
    return created


def _fallback(fallback_dir: Path, why: str) -> OutputDir:
    try:
        path = _ensure_dir(fallback_dir.expanduser(), "The per-user image folder")
    except InputError as exc:
        raise InputError(
            f"{exc} Set {OUTPUT_DIR_SETTING} to a writable folder, or pass output_dir, to save images."
        ) from None
    why = why.rstrip(".")
    return OutputDir(
        path,
        f"Images were saved in {path} because {why}. Pass output_dir or set {OUTPUT_DIR_SETTING} to choose a folder.",
    )


def _ensure_dir(path: Path, what: str) -> Path:
    """Create `path` and its parents; every failure becomes one InputError sentence, never a bare OSError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{what} '{path}' cannot be created: it or a parent exists and is not a folder.") from None
    except PermissionError:
        raise InputError(f"{what} '{path}' cannot be created: permission denied.") from None
    except OSError as exc:
        raise InputError(f"{what} '{path}' cannot be created: {exc.strerror or exc}.") from None
    if not _writable(path):
        raise InputError(f"{what} '{path}' is not writable.")
    return Path(os.path.realpath(path))


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


# ---- names and sidecars -----------------------------------------------------------------------------


def image_filename(
    task_id: str, index: int, ext: str, *, now: datetime | None = None, directory: Path | None = None
) -> str:
    """`<YYYYmmdd-HHMMSS>-<task_id[:8]>-<index>.<ext>`, e.g. `20250101-120000-3f2a9c1d-0.png`.

    With `directory`, a name already taken there gets `-2`, `-3`... (download_to also never overwrites).
    """
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    short = _SAFE_ID.sub("", task_id)[:8] or "task"
    suffix = ext.lower().lstrip(".")
    suffix = "jpg" if suffix == "jpeg" else suffix
    name = f"{stamp}-{short}-{index}.{suffix}"
    if directory is None:
        return name
    candidate = name
    for n in range(2, 1000):
        if not (directory / candidate).exists():
            break
        candidate = f"{stamp}-{short}-{index}-{n}.{suffix}"
    return candidate


def sidecar_path(image_path: Path) -> Path:
    return image_path.with_name(image_path.name + ".json")


def write_sidecar(image_path: Path, data: dict[str, Any]) -> Path:
    """Write `<image>.json` (e.g. `x.png.json`) atomically; returns its path. Blocking: run in a thread."""
    path = sidecar_path(image_path)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


async def write_sidecar_async(image_path: Path, data: dict[str, Any]) -> Path:
    return await anyio.to_thread.run_sync(write_sidecar, image_path, data)


# ---- downloads ------------------------------------------------------------------------------------


async def download_to(
    http: httpx2.AsyncClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 - per network step (httpx); total_timeout is the overall deadline
    allow_hosts: Collection[str] = (),
    total_timeout: float | None = None,
) -> SavedFile:
    """Stream the image at `url` into `dest`'s folder; raise DownloadError saying why it was not saved.

    Only public http(s) addresses (and hosts in `allow_hosts`), checked again on every redirect; the
    body is capped at `max_bytes` as it arrives; the content must be a PNG/JPEG/WEBP/GIF image. The
    file appears atomically under `dest`, with its extension matching the content and `-2`, `-3`...
    appended if the name is taken. `timeout` bounds each network step; `total_timeout`, when given,
    the whole download. Requests are built here, not from the client's defaults, so no header of the
    RunAPI client (never the API key) goes to the image host.
    """
    if total_timeout is None:
        return await _download(http, url, dest, max_bytes=max_bytes, timeout=timeout, allow_hosts=allow_hosts)
    try:
        with anyio.fail_after(total_timeout):
            return await _download(http, url, dest, max_bytes=max_bytes, timeout=timeout, allow_hosts=allow_hosts)
    except TimeoutError:
        raise DownloadError(
            f"Downloading {_display(url)} took longer than {total_timeout:g}s. Try again later.", retryable=True
        ) from None


async def _download(
    http: httpx2.AsyncClient,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 - see download_to
    allow_hosts: Collection[str],
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
                return await _save_body(response, url, dest, max_bytes)
            finally:
                await response.aclose()
        except httpx2.TimeoutException:
            raise DownloadError(
                f"Downloading {_display(url)} timed out after {timeout:g}s. Try again later.", retryable=True
            ) from None
        except httpx2.TransportError as exc:
            raise DownloadError(
                f"Downloading {_display(url)} failed: {type(exc).__name__}. Try again later.", retryable=True
            ) from None
        except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
            raise DownloadError(f"Downloading {_display(url)} failed: {exc}.") from None
    raise DownloadError(f"Downloading {_display(url)} failed: more than {MAX_REDIRECTS} redirects.")


async def _save_body(response: httpx2.Response, url: str, dest: Path, max_bytes: int) -> SavedFile:
    shown = _display(url)
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
            async with await anyio.open_file(tmp, "xb") as fh:
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
            info = await anyio.to_thread.run_sync(identify_image, tmp)
        except NotAnImageError as exc:
            raise DownloadError(f"Downloading {shown} failed: {exc}.") from None
        final = dest.with_suffix("." + EXTENSIONS[info.mime_type])
        try:
            path = await anyio.to_thread.run_sync(_commit, tmp, final)
        except OSError as exc:
            raise DownloadError(_write_failed(dest, exc)) from None
        committed = True
    finally:
        if not committed:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return SavedFile(path, size, digest.hexdigest(), info.mime_type, info.width, info.height)


def _commit(tmp: Path, dest: Path) -> Path:
    """Move `tmp` to `dest`, or to `<stem>-2<suffix>`... when taken: the name is reserved with O_EXCL first,
    so two processes saving at once cannot both pick it."""
    for n in range(1, 1000):
        candidate = dest if n == 1 else dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        try:
            os.replace(tmp, candidate)
        except OSError:
            with contextlib.suppress(OSError):
                candidate.unlink()
            raise
        return candidate
    raise FileExistsError(f"no free name for {dest.name}")


def _too_big(shown: str, max_bytes: int) -> str:
    return (
        f"Downloading {shown} stopped: the image is larger than the {_megabytes(max_bytes)} cap. "
        "Raise RUNAPI_MCP_MAX_DOWNLOAD_MB to save it."
    )


def _write_failed(dest: Path, exc: OSError) -> str:
    why = exc.strerror or exc
    return f"Could not write the image into {dest.parent}: {why}. Free some space or pass another output_dir."


def _megabytes(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:.1f} MB" if mb >= 0.1 else f"{n} bytes"


def _display(url: str) -> str:
    """The URL without its query (signed URLs carry tokens) and shortened, for messages."""
    return display_url(url)
