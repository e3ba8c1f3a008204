"""Parse edit_image's `images` references, and read and check the local ones.

Accepted forms: a local path (absolute, relative to the working directory, or starting with `~`), a
`file://` URI, an http(s) URL, a `data:image/...;base64,...` URI, and `task:<task_id>` or
`task:<task_id>#<index>` for an earlier result.

`task:<task_id>` without `#<index>` gives `TaskImageRef(index=None)`, which means the first image (index
0): GPT Image 2 makes one image per task, so that is the task's image. `position` gives the number.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from runapi_mcp.core.errors import InputError
from runapi_mcp.core.files import EscapedRootError, open_beneath, root_of
from runapi_mcp.core.folders import inside, outside_roots_error, resolve_user_path, usable_roots
from runapi_mcp.core.images import NotAnImageError, identify_image
from runapi_mcp.core.urlsafety import Resolver, check_public_url
from runapi_mcp.text import megabytes, shorten

ACCEPTED_FORMS = (
    "a local file path, a file:// URI, an http(s) URL, a data:image/...;base64,... URI, "
    "or task:<task_id> (task:<task_id>#<index> for one image of it)"
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: C:\ is a Windows path
_TASK = re.compile(r"^task:([A-Za-z0-9][A-Za-z0-9_-]{0,127})(?:#([0-9]{1,3}))?$", re.IGNORECASE)
_BASE64_SPACE = re.compile(r"[\t\n\r ]+")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class LocalImage:
    path: Path  # resolved: symlinks followed
    data: bytes
    mime_type: str
    sha256: str


@dataclass(frozen=True)
class RemoteImage:
    url: str  # checked public http(s); passed to RunAPI unchanged


@dataclass(frozen=True)
class DataImage:
    data: bytes
    mime_type: str
    sha256: str


@dataclass(frozen=True)
class TaskImageRef:
    task_id: str
    index: int | None  # None: no `#index` was written, which means the first image

    @property
    def position(self) -> int:
        return self.index or 0


ImageRef = LocalImage | RemoteImage | DataImage | TaskImageRef


def parse_image_ref(
    ref: str,
    *,
    working_dir: Path,
    roots: Sequence[Path],
    max_bytes: int,
    allow_hosts: Collection[str] = (),
    resolver: Resolver | None = None,
) -> ImageRef:
    """Turn one reference into an ImageRef, or raise InputError saying what is wrong and what to do.

    Blocking (file reads, Pillow, DNS for URLs): call it in a worker thread from async code.
    `resolver` replaces the system DNS lookup (tests).
    """
    text = ref.strip()
    if not text:
        raise InputError(f"An image reference is empty. Pass {ACCEPTED_FORMS}.")
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else None
    if scheme is None:
        return read_local_image(text, working_dir=working_dir, roots=roots, max_bytes=max_bytes)
    if scheme in ("http", "https"):
        check_public_url(text, allow_hosts, resolver=resolver)
        return RemoteImage(text)
    if scheme == "file":
        path = _file_uri_path(text)
        return read_local_image(path, working_dir=working_dir, roots=roots, max_bytes=max_bytes, shown=text)
    if scheme == "data":
        return _data_image(text, max_bytes)
    if scheme == "task":
        return _task_ref(text)
    raise InputError(
        f"Image reference '{shorten(text)}' uses an unsupported scheme ({scheme}:). Pass {ACCEPTED_FORMS}."
    )


def read_local_image(
    raw: str, *, working_dir: Path, roots: Sequence[Path], max_bytes: int, shown: str | None = None
) -> LocalImage:
    """Read a local image inside `roots`: a regular file, at most `max_bytes`, an image by content."""
    shown = shorten(shown or raw)
    allowed = usable_roots(roots, working_dir)
    path = resolve_user_path(raw, working_dir)
    # Checked before touching the file, so nothing tells whether a file outside the roots exists.
    if not inside(path, allowed):
        raise outside_roots_error("Image path", shown, allowed)
    root = root_of(path, allowed)
    if root is None:  # inside() said yes: unreachable, but never open without an anchor
        raise outside_roots_error("Image path", shown, allowed)
    try:
        # Opened from the root down with no symlink at any step: a folder swapped after the check above
        # cannot lead the read outside the roots.
        fd = open_beneath(root, path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise InputError(
            f"Image file '{shown}' does not exist (relative paths start at {working_dir}). Check the path."
        ) from None
    except EscapedRootError:
        raise InputError(f"Image file '{shown}' changed while it was being opened. Try again.") from None
    except OSError as exc:
        raise InputError(f"Image file '{shown}' cannot be read: {exc.strerror or exc}.") from None
    data = _read_bounded(fd, shown, max_bytes)
    mime = _image_mime(data, f"Image file '{shown}'", "Pass a PNG, JPEG, WEBP or GIF file.")
    return LocalImage(path, data, mime, hashlib.sha256(data).hexdigest())


def _check_file(info: os.stat_result, shown: str, max_bytes: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"Image path '{shown}' is a folder. Name an image file inside it.")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"Image path '{shown}' is not a regular file. Name an image file.")
    if info.st_size > max_bytes:
        raise InputError(
            f"Image file '{shown}' is {megabytes(info.st_size)}, over the {megabytes(max_bytes)} limit. "
            "Pass a smaller image or raise RUNAPI_MCP_MAX_INPUT_MB."
        )
    if info.st_size == 0:
        raise InputError(f"Image file '{shown}' is empty. Pass a PNG, JPEG, WEBP or GIF file.")


def _read_bounded(fd: int, shown: str, max_bytes: int) -> bytes:
    """Read at most `max_bytes` of the open file `fd` (closed here), checked as opened: a regular file."""
    try:
        _check_file(os.fstat(fd), shown, max_bytes)
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1024 * 1024, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputError(f"Image file '{shown}' cannot be read: {exc.strerror or exc}.") from None
    finally:
        os.close(fd)
    if total > max_bytes:  # it grew after the size check
        raise InputError(f"Image file '{shown}' is over the {megabytes(max_bytes)} limit. Pass a smaller image.")
    return b"".join(chunks)


def _file_uri_path(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise InputError(
            f"'{shorten(uri)}' names another machine ({parts.netloc}). Use file:///absolute/path for a local file."
        )
    if not parts.path:
        raise InputError(f"'{shorten(uri)}' has no path. Use file:///absolute/path/to/image.png.")
    return url2pathname(parts.path) if os.name == "nt" else unquote(parts.path)


def _data_image(uri: str, max_bytes: int) -> DataImage:
    header, comma, payload = uri[len("data:") :].partition(",")
    shown = f"data:{shorten(header, 40)},..."
    if not comma:
        raise InputError(f"The data: URI '{shown}' has no comma before its data. Use data:image/png;base64,<data>.")
    mime, *params = (p.strip().lower() for p in header.split(";"))
    if not mime.startswith("image/"):
        kind = mime or "missing"
        raise InputError(f"The data: URI '{shown}' is not an image (type {kind}). Use data:image/png;base64,<data>.")
    if "base64" not in params:
        raise InputError(f"The data: URI '{shown}' is not base64-encoded. Use data:image/png;base64,<data>.")
    payload = _BASE64_SPACE.sub("", payload)
    # Decoded size is 3/4 of the text: refuse before decoding anything.
    if len(payload) // 4 * 3 - payload[-2:].count("=") > max_bytes:
        raise InputError(
            f"The data: URI image is over the {megabytes(max_bytes)} limit. "
            "Pass a smaller image or raise RUNAPI_MCP_MAX_INPUT_MB."
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"The data: URI '{shown}' does not hold valid base64. Encode the file again.") from None
    if not data:
        raise InputError(f"The data: URI '{shown}' is empty. Put a PNG, JPEG, WEBP or GIF in base64 after the comma.")
    mime = _image_mime(data, f"The data: URI '{shown}'", "Encode a PNG, JPEG, WEBP or GIF file.")
    return DataImage(data, mime, hashlib.sha256(data).hexdigest())


def _task_ref(text: str) -> TaskImageRef:
    match = _TASK.match(text)
    if match is None:
        raise InputError(
            f"'{shorten(text)}' is not a task reference. Write task:<task_id> or task:<task_id>#<index> "
            "(index from 0), with the id from generate_image or list_tasks."
        )
    task_id, index = match.group(1), match.group(2)
    return TaskImageRef(task_id, int(index) if index is not None else None)


def _image_mime(data: bytes, what: str, hint: str) -> str:
    try:
        return identify_image(data).mime_type
    except NotAnImageError as exc:
        raise InputError(f"{what} cannot be used: {exc}. {hint}") from None
