"""Client-side checks that run before any request, with one-sentence messages instead of pydantic dumps."""

from __future__ import annotations

import re
from typing import Any

import pydantic
from pydantic_core import ErrorDetails

from .errors import ValidationError
from .models import (
    ACTIONS,
    ASPECT_RATIOS,
    MAX_SOURCE_IMAGES,
    MODEL_ID,
    OUTPUT_RESOLUTIONS,
    Action,
    EditImageRequest,
    TextToImageRequest,
)

MAX_IDEMPOTENCY_KEY_CHARS = 512
_CLIENT_CODE = "invalid_request"
# Printable ASCII, no whitespace at either end: anything else cannot travel in a header unchanged.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
# RunAPI task ids are UUIDs; accept any id that is a single safe path segment.
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_ALLOWED: dict[str, tuple[str, ...]] = {
    "aspect_ratio": ASPECT_RATIOS,
    "output_resolution": OUTPUT_RESOLUTIONS,
    "model": (MODEL_ID,),
}
_REQUEST_TYPES: dict[str, type[TextToImageRequest] | type[EditImageRequest]] = {
    "text_to_image": TextToImageRequest,
    "edit_image": EditImageRequest,
}


def invalid(message: str) -> ValidationError:
    return ValidationError(message, code=_CLIENT_CODE)


def check_action(action: str) -> Action:
    if action == "text_to_image":
        return "text_to_image"
    if action == "edit_image":
        return "edit_image"
    raise invalid(f"action must be one of: {', '.join(ACTIONS)} (got {_show(action)})")


def check_task_id(task_id: str) -> str:
    if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise invalid(f"task_id must be a RunAPI task id such as a UUID (got {_show(task_id)})")
    return task_id


def check_idempotency_key(key: str) -> str:
    if (
        not isinstance(key, str)  # pyright: ignore[reportUnnecessaryIsInstance]
        or len(key) > MAX_IDEMPOTENCY_KEY_CHARS
        or not _IDEMPOTENCY_KEY.fullmatch(key)
    ):
        raise invalid(
            f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters "
            "without leading or trailing spaces"
        )
    return key


def check_request_matches(action: Action, request: TextToImageRequest | EditImageRequest) -> None:
    expected = _REQUEST_TYPES[action]
    if type(request) is not expected:
        raise invalid(f"{action} needs a {expected.__name__}, not a {type(request).__name__}")


def build_request(action: str, **fields: Any) -> TextToImageRequest | EditImageRequest:
    """Validate fields for `action` into its request model; a bad field raises ValidationError naming it.

    Fields passed as None count as not given, so callers can forward optional parameters unchanged.
    """
    checked = check_action(action)
    given = {name: value for name, value in fields.items() if value is not None}
    prompt = given.get("prompt")
    if isinstance(prompt, str) and not prompt.strip():
        raise invalid("prompt must not be empty")
    model = _REQUEST_TYPES[checked]
    try:
        return model.model_validate(given)
    except pydantic.ValidationError as exc:
        problems = [_describe(err, checked) for err in exc.errors(include_url=False)[:3]]
        raise invalid("; ".join(problems)) from None


def _describe(err: ErrorDetails, action: Action) -> str:
    loc = err["loc"]
    field = str(loc[0]) if loc else "request"
    where = field + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
    kind = err["type"]
    got = err.get("input")
    if kind == "missing":
        return f"{where} is required for {action}"
    if kind == "extra_forbidden":
        allowed = ", ".join(_REQUEST_TYPES[action].model_fields)
        return f"{where} is not accepted by {action} (fields: {allowed})"
    if field in _ALLOWED and len(loc) == 1:
        return f"{field} must be one of: {', '.join(_ALLOWED[field])} (got {_show(got)})"
    if field == "prompt" and kind in ("string_too_short", "string_type"):
        return "prompt must be a non-empty string"
    if field == "source_image_urls" and len(loc) == 1:
        return f"source_image_urls must be a list of 1 to {MAX_SOURCE_IMAGES} image URLs (got {_count(got)})"
    return f"{where}: {err['msg']} (got {_show(got)})"


def _count(value: Any) -> str:
    if isinstance(value, list | tuple):
        n = len(value)  # pyright: ignore[reportUnknownArgumentType]
        return f"{n} image{'' if n == 1 else 's'}"
    return _show(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
