"""Files that appear whole or not at all: written under a temporary name in the same folder, then
renamed, and (for results) never replacing an existing file, so a crash or a second server process
cannot leave a half-written file or overwrite one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class EscapedRootError(OSError):
    """A path below a root went through a symlink when it was opened (it was checked without one)."""


def open_beneath(root: Path, path: Path, flags: int, mode: int = 0o644) -> int:
    """Open `path` (resolved, inside `root`) one component at a time from a descriptor of `root`, refusing
    a symlink at every step, so a folder swapped for a symlink after the checks cannot lead outside `root`.
    `flags` apply to the last component (O_NOFOLLOW is added); returns its descriptor. Blocking.
    """
    parts = path.relative_to(root).parts
    current = os.open(root, _DIR_FLAGS & ~_NOFOLLOW)  # the root itself is the trusted anchor
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                fd = os.open(part, (flags | _NOFOLLOW) if last else _DIR_FLAGS, mode, dir_fd=current)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(os.path.join(root, *parts[: i + 1])):
                    raise EscapedRootError(errno.ELOOP, f"{part} became a symbolic link") from None
                raise
            os.close(current)
            current = fd
        return current  # `path` == `root`: the root's own descriptor
    except BaseException:
        os.close(current)
        raise


def read_beneath(anchor: Path, path: Path) -> bytes:
    """The bytes of the regular file `path` under `anchor`, opened with no symlink at any step. Blocking."""
    fd = open_beneath(anchor, path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise IsADirectoryError(errno.EISDIR, f"{path.name} is not a regular file")
        return fh.read()


def root_of(path: Path, roots: Sequence[Path]) -> Path | None:
    """The deepest of `roots` (resolved) that holds `path` (resolved)."""
    holding = [root for root in roots if path == root or path.is_relative_to(root)]
    return max(holding, key=lambda root: len(root.parts)) if holding else None


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace `path` with `text` in one step. The temporary file is created 0600 (mkstemp), so a secret
    is never readable by others, not even for a moment; `mode` applies once it is complete."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def move_to_free_name(tmp: Path, dest: Path, *, dir_fd: int | None = None) -> Path:
    """Move `tmp` to `dest`, or to `<stem>-2<suffix>`... when taken: the name is reserved with O_EXCL first,
    so two processes saving at once cannot both pick it. With `dir_fd` (the open folder both are in), names
    are resolved from it, never through the folder's path."""

    def at(path: Path) -> str | Path:
        return path.name if dir_fd is not None else path

    for n in range(1, 1000):
        candidate = dest if n == 1 else dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
        try:
            fd = os.open(at(candidate), os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644, dir_fd=dir_fd)
        except FileExistsError:
            continue
        os.close(fd)
        try:
            os.replace(at(tmp), at(candidate), src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(at(candidate), dir_fd=dir_fd)
            raise
        return candidate
    raise FileExistsError(f"no free name for {dest.name}")


def open_folder(folder: Path, anchor: Path | None) -> int:
    """A descriptor of `folder`, opened from `anchor` (a folder it was checked to be under) with no symlink at
    any step below it. Blocking."""
    return open_beneath(anchor or folder, folder, _DIR_FLAGS)


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


def write_sidecar(image_path: Path, data: dict[str, Any], *, dir_fd: int | None = None) -> Path:
    """Write `<image>.json` (e.g. `x.png.json`) atomically; returns its path. Blocking: run in a thread.
    With `dir_fd` (the image's open folder) it is written there, not through the folder's path."""
    path = sidecar_path(image_path)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    if dir_fd is None:
        atomic_write_text(path, text)
        return path
    tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    return path
