"""Result images that are huge to decode: the sandbox's `huge-image` fault.

Two shapes, both real PNGs that any decoder accepts:
- `bomb`: a small file (a few hundred KB) whose header declares `side` x `side` pixels of one colour, the
  shape of a decompression bomb that stays under Pillow's own pixel limit;
- `big`: `side` x `side` pixels whose top rows are noise, so the file is about `mb` megabytes (a result near
  the download cap that is also large to decode).
The rows are compressed as they are made, so building one never holds the decoded image in memory.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import anyio.to_thread

SHAPES = ("bomb", "big")
DEFAULT_SIDE = {"bomb": 9000, "big": 6000}
DEFAULT_MB = 40.0
MAX_SIDE = 30_000
MAX_MB = 512.0
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RGB = 2  # PNG colour type


@dataclass(frozen=True)
class HugeSpec:
    shape: str
    side: int
    mb: float

    @property
    def cache_key(self) -> str:
        return f"huge:{self.shape}:{self.side}:{self.mb:g}"


def huge_spec(shape: str | None, options: Mapping[str, str]) -> HugeSpec:
    """The fault's parameters, checked; ValueError with a readable reason when one is not allowed."""
    chosen = (shape or SHAPES[0]).lower()
    if chosen not in SHAPES:
        raise ValueError(f"huge-image: shape must be one of {', '.join(SHAPES)}")
    side = DEFAULT_SIDE[chosen]
    if "side" in options:
        raw = options["side"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_SIDE:
            raise ValueError(f"huge-image: side must be a whole number of pixels from 1 to {MAX_SIDE}")
        side = int(raw)
    mb = DEFAULT_MB
    if "mb" in options:
        try:
            mb = float(options["mb"])
        except ValueError:
            mb = -1.0
        if not 0 < mb <= MAX_MB:
            raise ValueError(f"huge-image: mb must be a number of megabytes above 0, at most {MAX_MB:g}")
    return HugeSpec(chosen, side, mb)


def huge_png(spec: HugeSpec) -> bytes:
    """The PNG the spec describes. Blocking (zlib over every row): run it in a worker thread."""
    row_bytes = spec.side * 3
    noise_rows = 0 if spec.shape == "bomb" else min(spec.side, int(spec.mb * 1024 * 1024) // row_bytes)
    # Level 1 when there is noise (it does not compress anyway), 9 for a bomb's flat rows.
    compressor = zlib.compressobj(1 if noise_rows else 9)
    parts = [compressor.compress(b"\x00" + os.urandom(row_bytes)) for _ in range(noise_rows)]
    grey_row = b"\x00" + b"\x80" * row_bytes
    parts.extend(compressor.compress(grey_row) for _ in range(spec.side - noise_rows))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", spec.side, spec.side, 8, _RGB, 0, 0, 0)
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", b"".join(parts)), _chunk(b"IEND", b"")))


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


async def huge_png_async(spec: HugeSpec) -> bytes:
    return await anyio.to_thread.run_sync(huge_png, spec)
