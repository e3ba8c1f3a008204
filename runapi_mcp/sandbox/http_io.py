"""Reading request bodies with a size cap, and the small request facts handlers share."""

from __future__ import annotations

import json

from starlette.requests import Request

from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.origin import Origin

_DEFAULT_PORTS = {"http": 80, "https": 443}


def json_limit(config: SandboxConfig) -> int:
    """Room for a file's worth of base64 plus the rest of a request."""
    return config.max_file_bytes * 4 // 3 + 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"The request body exceeds {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> object:
    raw = await read_body(request, limit)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def origin(request: Request) -> Origin:
    url = request.url
    port = url.port or _DEFAULT_PORTS.get(url.scheme, 80)
    return Origin(base_url(request), url.hostname or "", port)


def authenticate(request: Request, config: SandboxConfig) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "Missing API key: send Authorization: Bearer <key>.", challenge)
    if config.accepted_keys is not None and key not in config.accepted_keys:
        raise ApiError(401, "unauthorized", "Invalid API key.", challenge)
