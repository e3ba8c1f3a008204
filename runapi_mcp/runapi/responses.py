"""Turn a RunAPI error response into the error tree, and read the headers worth keeping.

RunAPI's error bodies come in several shapes (its own JSON, framework defaults, proxy HTML pages), so the
message is looked for in a fixed order and always reduced to one short line.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, cast

import httpx2

from runapi_mcp.text import shorten
from runapi_mcp.urls import display_url

from .errors import (
    AuthenticationError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitError,
    RunAPIError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
)

MAX_MESSAGE_CHARS = 300
REDACTED = "[redacted]"

TASK_ID_HEADER = "X-RunAPI-Task-Id"
REQUEST_ID_HEADER = "x-request-id"
RETRY_AFTER_HEADER = "Retry-After"

_STATUS_ERRORS: dict[int, type[RunAPIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    404: NotFoundError,
    409: IdempotencyConflictError,
    422: ValidationError,
    429: RateLimitError,
}
_MESSAGE_KEYS = ("message", "detail", "errorMessage", "msg")
_HTML_MARKER = re.compile(r"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_WHITESPACE = re.compile(r"\s+")
# A plain-text body is only ever shown shortened; no need to scan megabytes of it.
_MAX_SCAN_CHARS = 4096
# Servers sometimes echo the request's credentials back; whatever follows "Bearer" is never shown.
_BEARER = re.compile(r"(bearer)\s+[^\s\"',;]+", re.IGNORECASE)


def error_from_response(response: httpx2.Response) -> RunAPIError:
    """Map a non-2xx response onto the error tree, with RunAPI's message, ids and Retry-After."""
    status = response.status_code
    message, code = (None, None) if response.is_redirect else _message_and_code(response)
    # Redact before shortening: a cut must never leave the head of a key behind.
    message = shorten(redact(message or _default_message(response), _request_secrets(response)), MAX_MESSAGE_CHARS)
    return _error_class(status)(
        message,
        status=status,
        code=code,
        task_id=_header(response, TASK_ID_HEADER),
        request_id=_header(response, REQUEST_ID_HEADER),
        retry_after=parse_retry_after(response.headers.get(RETRY_AFTER_HEADER)),
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date; None when absent or unreadable.

    A date in the past (or a negative number) means "now": 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; obsolete forms may parse without a zone
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max((when - reference).total_seconds(), 0.0)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove credentials from text meant for people: bearer tokens and any given secret."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _BEARER.sub(rf"\1 {REDACTED}", text)


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _error_class(status: int) -> type[RunAPIError]:
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    if 500 <= status <= 599:
        return ServerError
    return UnexpectedResponseError


def _message_and_code(response: httpx2.Response) -> tuple[str | None, str | None]:
    text = _body_text(response)
    if not text.strip():
        return None, None
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    else:
        if isinstance(body, dict):
            return _json_message(cast(dict[str, Any], body))
        return None, None
    if _HTML_MARKER.search(text) or "html" in response.headers.get("content-type", "").lower():
        return _html_title(text), None
    if text.lstrip().startswith("<"):  # XML and other markup: not a message a person should read
        return None, None
    return _one_line(text[:_MAX_SCAN_CHARS]), None


def _json_message(body: dict[str, Any]) -> tuple[str | None, str | None]:
    code = body.get("code") if isinstance(body.get("code"), str) else None
    error = body.get("error")
    if isinstance(error, dict):
        nested = cast(dict[str, Any], error)
        if isinstance(nested.get("code"), str):
            code = nested["code"]
        if message := _as_message(nested.get("message")):
            return message, code
    elif message := _as_message(error):
        return message, code
    for key in _MESSAGE_KEYS:
        if message := _as_message(body.get(key)):
            return message, code
    return None, code


def _as_message(value: Any) -> str | None:
    if isinstance(value, str):
        return _one_line(value) or None
    # Framework validation errors put a list of {"loc", "msg"} under "detail".
    if isinstance(value, list) and value:
        parts = [_as_message(item) for item in cast(list[Any], value)[:3]]
        return "; ".join(p for p in parts if p) or None
    if isinstance(value, dict):
        item = cast(dict[str, Any], value)
        msg = item.get("msg") or item.get("message")
        if not isinstance(msg, str):
            return None
        loc = item.get("loc")
        if isinstance(loc, list) and loc:
            where = ".".join(str(p) for p in cast(list[Any], loc) if p != "body")
            return _one_line(f"{where}: {msg}" if where else msg)
        return _one_line(msg)
    return None


def _html_title(text: str) -> str | None:
    match = _HTML_TITLE.search(text) or _HTML_H1.search(text)
    if not match:
        return None
    return _one_line(html.unescape(_TAG.sub("", match.group(1)))) or None


def _default_message(response: httpx2.Response) -> str:
    reason = response.reason_phrase
    location = response.headers.get("location", "")
    if response.is_redirect and location.lower().startswith(("http://", "https://")):
        # Usually a base URL with the wrong scheme or host; the target's origin is what to configure.
        try:
            target = httpx2.URL(location)
        except httpx2.InvalidURL:
            target = None
        if target is not None and target.host:
            shown = display_url(location, with_path=False)
            return (
                f"RunAPI answered HTTP {response.status_code}, redirecting to {shown}; "
                "use that address as the RunAPI base URL."
            )
    return f"RunAPI answered HTTP {response.status_code}{f' {reason}' if reason else ''} with no further detail."


def _body_text(response: httpx2.Response) -> str:
    try:
        return response.text
    except (httpx2.ResponseNotRead, UnicodeDecodeError, LookupError):
        return ""


def _header(response: httpx2.Response, name: str) -> str | None:
    value = response.headers.get(name)
    return shorten(value, 200) if value and value.strip() else None


def _request_secrets(response: httpx2.Response) -> list[str]:
    try:
        authorization = response.request.headers.get("authorization")
    except RuntimeError:  # a response built without its request
        return []
    if not authorization:
        return []
    _, _, token = authorization.partition(" ")
    return [s for s in (authorization, token.strip()) if s]
