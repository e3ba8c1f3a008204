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


def broken_png(png: bytes) -> bytes:
    """The same PNG, every chunk CRC valid, but its pixel data a well-formed zlib stream of half the rows."""
    chunks = png_chunks(png)
    pixels = zlib.decompress(b"".join(payload for kind, payload in chunks if kind == b"IDAT"))
    short = zlib.compress(pixels[: len(pixels) // 2], 3)
    out = [_PNG_SIGNATURE]
    wrote_data = False
    for kind, payload in chunks:
        if kind != b"IDAT":
            out.append(_chunk(kind, payload))
        elif not wrote_data:
            out.append(_chunk(b"IDAT", short))
            wrote_data = True
    return b"".join(out)
