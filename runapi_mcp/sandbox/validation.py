"""Request-body checks, answering the way RunAPI does: 400 for unreadable input, 422 for invalid input."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from runapi_mcp.runapi.models import ASPECT_RATIOS, MAX_SOURCE_IMAGES, MODEL_ID, OUTPUT_RESOLUTIONS
from runapi_mcp.sandbox.encoding import decode_data_uri, is_data_uri
from runapi_mcp.sandbox.errors import ApiError, validation_error

_COMMON_FIELDS = ("model", "prompt", "aspect_ratio", "output_resolution", "callback_url")
_FIELDS: dict[str, tuple[str, ...]] = {
    "text_to_image": _COMMON_FIELDS,
    "edit_image": (*_COMMON_FIELDS, "source_image_urls"),
}
MAX_IDEMPOTENCY_KEY = 512


def json_object(value: object, field: str | None = None) -> dict[str, object]:
    """The body (400 when it is not an object) or a named field of it (422)."""
    if not isinstance(value, dict):
        if field is not None:
            raise validation_error(f"{field} must be an object.")
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    return cast(dict[str, object], value)


def _optional_str(body: dict[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise validation_error(f"{name} must be a string.")
    return value


def _one_of(body: dict[str, object], name: str, allowed: tuple[str, ...]) -> str | None:
    value = _optional_str(body, name)
    if value is not None and value not in allowed:
        raise validation_error(f"{name} must be one of: {', '.join(allowed)}; got {value!r}.")
    return value


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True)
class CreateRequest:
    action: str
    prompt: str
    aspect_ratio: str | None
    output_resolution: str | None
    callback_url: str | None
    source_image_urls: tuple[str, ...]


def parse_create(action: str, payload: object) -> CreateRequest:
    body = json_object(payload)
    allowed = _FIELDS[action]
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise validation_error(
            f"Unknown parameter(s) for {action}: {', '.join(unknown)}. Accepted: {', '.join(allowed)}."
        )
    model = body.get("model")
    if model is None:
        raise validation_error("model is required.")
    if model != MODEL_ID:
        raise validation_error(f"model must be {MODEL_ID!r}.")
    prompt = body.get("prompt")
    if prompt is None:
        raise validation_error("prompt is required.")
    if not isinstance(prompt, str):
        raise validation_error("prompt must be a string.")
    if not prompt.strip():
        raise validation_error("prompt must not be blank.")
    aspect_ratio = _one_of(body, "aspect_ratio", ASPECT_RATIOS)
    output_resolution = _one_of(body, "output_resolution", OUTPUT_RESOLUTIONS)
    callback_url = _optional_str(body, "callback_url")
    if callback_url is not None and not _is_http_url(callback_url):
        raise validation_error("callback_url must be an http(s) URL.")
    sources: tuple[str, ...] = ()
    if action == "edit_image":
        sources = _source_urls(body.get("source_image_urls"))
    return CreateRequest(action, prompt, aspect_ratio, output_resolution, callback_url, sources)


def _source_urls(value: object) -> tuple[str, ...]:
    if value is None:
        raise validation_error("source_image_urls is required.")
    if not isinstance(value, list):
        raise validation_error("source_image_urls must be an array of image URLs.")
    items = cast(list[object], value)
    if not 1 <= len(items) <= MAX_SOURCE_IMAGES:
        raise validation_error(f"source_image_urls takes 1 to {MAX_SOURCE_IMAGES} images; got {len(items)}.")
    urls: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise validation_error(f"source_image_urls[{index}] must be a non-empty string.")
        if is_data_uri(item):
            try:
                decode_data_uri(item)
            except ValueError as exc:
                raise validation_error(f"source_image_urls[{index}] is not a usable data: URI ({exc}).") from None
        elif not _is_http_url(item):
            raise validation_error(f"source_image_urls[{index}] must be an http(s) URL.")
        urls.append(item)
    return tuple(urls)


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY or not value.strip():
        raise ApiError(
            400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters."
        )
    return value


@dataclass(frozen=True)
class FileSource:
    kind: str  # "url" | "base64"
    value: str


def parse_file_create(payload: object) -> tuple[FileSource, str | None]:
    body = json_object(payload)
    unknown = sorted(set(body) - {"source", "file_name"})
    if unknown:
        raise validation_error(f"Unknown parameter(s): {', '.join(unknown)}. Accepted: source, file_name.")
    file_name = _optional_str(body, "file_name")
    raw_source = body.get("source")
    if raw_source is None:
        raise validation_error("source is required.")
    if not isinstance(raw_source, dict):
        raise validation_error(
            'source must be an object: {"type": "url", "url": ...} or {"type": "base64", "data": ...}.'
        )
    source = cast(dict[str, object], raw_source)
    kind = source.get("type")
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not _is_http_url(url):
            raise validation_error("source.url must be an http(s) URL.")
        return FileSource("url", url), file_name
    if kind == "base64":
        data = source.get("data")
        if not isinstance(data, str) or not data.strip():
            raise validation_error("source.data must be a non-empty base64 string.")
        return FileSource("base64", data), file_name
    raise validation_error('source.type must be "url" or "base64".')


@dataclass(frozen=True)
class PrepareRequest:
    filename: str
    byte_size: int
    checksum: str
    content_type: str | None


def parse_prepare(payload: object, max_bytes: int) -> PrepareRequest:
    body = json_object(payload)
    unknown = sorted(set(body) - {"filename", "byte_size", "checksum", "content_type"})
    if unknown:
        raise validation_error(
            f"Unknown parameter(s): {', '.join(unknown)}. Accepted: filename, byte_size, checksum, content_type."
        )
    filename = body.get("filename")
    byte_size = body.get("byte_size")
    checksum = body.get("checksum")
    if not isinstance(filename, str) or not filename.strip():
        raise validation_error("filename is required.")
    if isinstance(byte_size, bool) or not isinstance(byte_size, int) or byte_size < 1:
        raise validation_error("byte_size must be a positive integer.")
    if byte_size > max_bytes:
        raise ApiError(413, "file_too_large", f"byte_size exceeds the {max_bytes}-byte limit.")
    if not isinstance(checksum, str):
        raise validation_error("checksum is required: the base64 MD5 digest of the file.")
    try:
        digest = base64.b64decode(checksum, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise validation_error("checksum must be the base64 MD5 digest of the file (16 bytes).")
    content_type = _optional_str(body, "content_type")
    return PrepareRequest(filename.strip(), byte_size, checksum, content_type or None)


def parse_confirm(payload: object) -> str:
    body = json_object(payload)
    signed_id = body.get("signed_id")
    if not isinstance(signed_id, str) or not signed_id:
        raise validation_error("signed_id is required.")
    return signed_id
