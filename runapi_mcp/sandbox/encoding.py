"""Bytes from `data:` URIs and base64 text, and image types from magic numbers."""

from __future__ import annotations

import base64
import binascii
import re

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.I)
_WHITESPACE = re.compile(r"\s+")


def decode_base64(text: str) -> bytes:
    """Strict standard base64 (whitespace ignored); ValueError when it is not."""
    compact = _WHITESPACE.sub("", text)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:"


def decode_data_uri(uri: str) -> tuple[str | None, bytes]:
    """(declared mime type, bytes) of a base64 `data:` URI; ValueError for anything else."""
    match = _DATA_URI.match(uri)
    if match is None or not match.group("b64"):
        raise ValueError("only base64 data: URIs are accepted")
    data = decode_base64(uri[match.end() :])
    mime = match.group("mime")
    return (mime.lower() if mime else None), data


def sniff_image_mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}


def extension_for(mime: str | None) -> str:
    return _EXTENSIONS.get(mime or "", ".bin")
