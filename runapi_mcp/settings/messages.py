"""pydantic's validation errors as one line a person can act on: the variable (or flag), what it accepts, and
what it got, never a traceback and never a secret."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from runapi_mcp.core.config import FIELD_ERROR, RULE_ERROR
from runapi_mcp.settings.names import SECRET_FIELDS, name_of
from runapi_mcp.urls import display_url

MAX_SHOWN_VALUE = 60


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what it accepts."""


def explain(exc: ValidationError, fields: Mapping[str, FieldInfo], origins: Mapping[str, str]) -> str:
    """The first problem as a sentence (pydantic stops before the cross-field rules when a field is bad)."""
    errors = exc.errors()
    first = _sentence(errors[0], fields, origins)
    more = len(errors) - 1
    return first if not more else f"{first} (and {more} more problem{'s' if more > 1 else ''} in the settings)"


def _sentence(error: ErrorDetails, fields: Mapping[str, FieldInfo], origins: Mapping[str, str]) -> str:
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if error["type"] == RULE_ERROR:
        return str(ctx["message"])
    field = str(error["loc"][0]) if error["loc"] else ""
    where = origins.get(field) or name_of(field)
    if error["type"] == FIELD_ERROR:
        return f"{where} {ctx['reason']}."
    if error["type"] == "extra_forbidden":
        return f"{where} is not a setting runapi-mcp knows."
    info = fields.get(field)
    accepts = _accepts(info) if info is not None else None
    if accepts is None:
        return f"{where} is not usable: {error['msg']}."
    return f"{where} must be {accepts}, not {_shown(field, error.get('input'))}."


def _accepts(info: FieldInfo) -> str | None:
    """What the field takes, read from its own type and bounds (so the message cannot drift from them)."""
    kind = _without_none(info.annotation)
    if get_origin(kind) is Literal:
        return "one of: " + ", ".join(str(a) for a in get_args(kind))
    low = high = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge | annotated_types.Gt):
            low = meta.ge if isinstance(meta, annotated_types.Ge) else meta.gt
        if isinstance(meta, annotated_types.Le | annotated_types.Lt):
            high = meta.le if isinstance(meta, annotated_types.Le) else meta.lt
    if kind is int and low is not None and high is not None:
        return f"a whole number between {low:g} and {high:g}"
    if kind is float and low is not None and high is not None:
        return f"a number between {low:g} and {high:g}"
    if kind is bool:
        return "true or false"
    return None


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _shown(field: str, value: Any) -> str:
    if field in SECRET_FIELDS:
        return "the value given"
    if field == "base_url" and isinstance(value, str):
        return repr(display_url(value))
    text = value if isinstance(value, str) else str(value)
    return repr(text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "...")
