"""The bearer token of an HTTP request: the caller's RunAPI key (per-request auth) or the shared token."""

from __future__ import annotations

from collections.abc import Mapping


def bearer_token(headers: Mapping[str, str] | None) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None when there is none."""
    if not headers:
        return None
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
