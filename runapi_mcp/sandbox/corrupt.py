"""Result images that pass a content sniff but do not decode: the sandbox's `bad-image` fault.

Pure functions of a good PNG, run in a worker thread like the renderer.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def truncated_jpeg(png: bytes) -> bytes:
    """The image as a JPEG cut off after 40% of its bytes: the header parses, the pixels end early."""
    with Image.open(io.BytesIO(png)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=85)
    data = buffer.getvalue()
    return data[: max(1024, len(data) * 2 // 5)]


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk; ValueError when the file is not a well-formed PNG."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG")
    chunks: list[tuple[bytes, bytes]] = []
    position = len(_PNG_SIGNATURE)
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        if zlib.crc32(kind + payload) != crc:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        chunks.append((kind, payload))
        position += 12 + length
    return chunks


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_BAD_FILTER = 9
"""PNG rows start with a filter type 0-4; anything else is pixel data no decoder accepts."""


def broken_png(png: bytes) -> bytes:
    """The same PNG, every chunk CRC valid and its zlib stream well formed, but the rows of its lower half
    carry an invalid filter type: the header reads, the pixels do not decode."""
    chunks = png_chunks(png)
    header = chunks[0][1]
    width, _, bit_depth, colour_type = struct.unpack(">IIBB", header[:10])
    row_bytes = 1 + (width * _CHANNELS[colour_type] * bit_depth + 7) // 8
    pixels = bytearray(zlib.decompress(b"".join(payload for kind, payload in chunks if kind == b"IDAT")))
    rows = len(pixels) // row_bytes
    for row in range(rows // 2, rows):
        pixels[row * row_bytes] = _BAD_FILTER
    out = [_PNG_SIGNATURE]
    wrote_data = False
    for kind, payload in chunks:
        if kind != b"IDAT":
            out.append(_chunk(kind, payload))
        elif not wrote_data:
            out.append(_chunk(b"IDAT", zlib.compress(bytes(pixels), 3)))
            wrote_data = True
    return b"".join(out)
