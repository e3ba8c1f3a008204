"""Which saved images the gallery may serve: files the journal names, inside the allowed folders, nothing else.

The page never sends a path. It names an image by task id and index; the path comes from the journal and is
checked here: absolute, no `..`, not a symlink itself, its real location inside an allowed folder, a regular
file of bounded size whose bytes are an image. Blocking: call from a worker thread.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 64 * 1024 * 1024
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class Refused(Exception):
    """The file cannot be served; the message says why in words a user can act on."""


@dataclass(frozen=True)
class ImageFile:
    data: bytes
    content_type: str


class ImageFiles:
    def __init__(self, roots: Iterable[Path]) -> None:
        resolved: list[Path] = []
        for root in roots:
            try:
                real = root.expanduser().resolve(strict=True)
            except (OSError, RuntimeError):
                continue  # a folder that does not exist holds nothing to serve
            if real.is_dir() and real not in resolved:
                resolved.append(real)
        self.roots = tuple(resolved)

    def locate(self, recorded: str | None) -> Path:
        """The real path of a journal-recorded file, or Refused."""
        if not recorded:
            raise Refused("no file was saved for this image")
        if "\x00" in recorded:
            raise Refused("the recorded path is not a file name")
        path = Path(recorded)
        if not path.is_absolute():
            raise Refused("the recorded path is not absolute")
        if ".." in path.parts:
            raise Refused("the recorded path climbs out of its folder")
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise Refused("the recorded path is a symbolic link")
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise Refused("the file is gone (moved or deleted)") from None
        if not any(real.is_relative_to(root) for root in self.roots):
            raise Refused("the file is outside the allowed folders (run the gallery from that project, or pass --root)")
        return real

    def read(self, recorded: str | None) -> ImageFile:
        real = self.locate(recorded)
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(real, flags)
        except OSError:
            raise Refused("the file cannot be opened") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Refused("the recorded path is not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise Refused(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
        content_type = sniff(data)
        if content_type is None:
            raise Refused("the file is not a PNG, JPEG, WebP or GIF image")
        return ImageFile(data, content_type)


def sniff(data: bytes) -> str | None:
    """The image type from the file's first bytes; the name and the journal's word are not trusted."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
