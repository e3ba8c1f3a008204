"""Sealing MCP's multi-round-trip `requestState` with keys every replica shares.

The SDK seals the state a server hands a client under a key made at start, so behind a balancer the
next round, answered by another replica, is refused ("Invalid or expired requestState"). With
RUNAPI_MCP_STATE_KEYS every replica seals and opens with the same keys; the first seals, all open
(rotation: add the new key second, roll out, move it first, roll out, drop the old one after the TTL).
State is bound to the caller: the digest of its bearer (its RunAPI key in per-request mode), so one
tenant's state cannot be replayed by another.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import RequestStateSecurity

from runapi_mcp.server.bearer import bearer_token
from runapi_mcp.settings import Settings

STATE_KEYS_SETTING = "RUNAPI_MCP_STATE_KEYS"


def request_state_security(settings: Settings) -> RequestStateSecurity | None:
    """The shared-key policy, or None for the SDK's per-process key (one process: stdio, a single server)."""
    if not settings.state_keys:
        return None
    return RequestStateSecurity(
        keys=[key.get_secret_value() for key in settings.state_keys], bind_principal=caller_principal
    )


def caller_principal(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """Who the state belongs to: a digest of the request's bearer token, None without one (stdio)."""
    headers: Any = getattr(ctx.request, "headers", None)
    token = bearer_token(headers)
    return None if token is None else "bearer:" + hashlib.sha256(token.encode()).hexdigest()


def needs_shared_keys(settings: Settings) -> bool:
    """Stateless HTTP is how replicas run: any of them may answer a round another one started."""
    return settings.transport == "http" and settings.http_stateless and not settings.state_keys
