"""Turn failures into one or two sentences the agent can act on."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NoReturn

from mcp.server.mcpserver.exceptions import ToolError

from runapi_mcp.core.errors import CoreError
from runapi_mcp.runapi import errors as api
from runapi_mcp.urls import display_url

NO_KEY = (
    'No RunAPI API key is set. Set RUNAPI_API_KEY in this server\'s environment (or "api_key" in '
    "~/.config/runapi/config.json), or try it without a key: runapi-mcp --sandbox."
)

# Set around one tools/call by the sign-in gate: the tool marks it when it refused for want of a key.
_no_key_refusals: ContextVar[list[bool] | None] = ContextVar("no_key_refusals", default=None)


@contextmanager
def watching_for_no_key() -> Generator[list[bool]]:
    """A list that is non-empty after the block when a tool in it refused because no key was set."""
    seen: list[bool] = []
    token = _no_key_refusals.set(seen)
    try:
        yield seen
    finally:
        _no_key_refusals.reset(token)


def refuse_for_want_of_a_key() -> NoReturn:
    """The tools' no-key refusal: its text for the agent, and a mark for the gate that offers sign-in."""
    seen = _no_key_refusals.get()
    if seen is not None:
        seen.append(True)
    raise ToolError(NO_KEY)


def explain(exc: Exception, *, base_url: str) -> str:
    """The message an agent sees for an anticipated failure. Never contains the key."""
    if isinstance(exc, CoreError):
        return str(exc)
    if not isinstance(exc, api.RunAPIError):
        raise exc
    msg = exc.message.rstrip(".")
    task = f" Task id: {exc.task_id}; call get_task with it." if exc.task_id else ""
    if isinstance(exc, api.AuthenticationError):
        return f"RunAPI rejected the API key (401: {msg}). Check RUNAPI_API_KEY, or try runapi-mcp --sandbox."
    if isinstance(exc, api.InsufficientCreditsError):
        return (
            f"Not enough RunAPI credits for this job (402: {msg}). Top up your account, or lower count or "
            "output_resolution; get_balance shows what is left."
        )
    if isinstance(exc, api.NotFoundError):
        return f"RunAPI has no such task or file (404: {msg}). Check the id with list_tasks."
    if isinstance(exc, api.IdempotencyConflictError):
        return (
            f"This idempotency_key was already used with other parameters (409: {msg}). "
            "Use a new key, or repeat the original parameters."
        )
    if isinstance(exc, api.RateLimitError):
        wait = f" about {exc.retry_after:.0f} s" if exc.retry_after else " a minute"
        # Not "retries ran out": some requests (an upload's PUT) are never retried, and the count is not known here.
        return f"RunAPI is rate limiting requests (429). Wait{wait} and call again.{task}"
    if isinstance(exc, api.ServerError):
        return f"RunAPI is failing ({exc.status}: {msg}). Try again shortly.{task}"
    if isinstance(exc, api.ConnectionFailedError):
        shown = display_url(base_url)
        return f"Could not reach RunAPI at {shown} ({msg}). Check the network or RUNAPI_BASE_URL.{task}"
    if isinstance(exc, api.TaskFailedError):
        return f"The task failed ({msg}). Failed generations are not billed.{task}"
    if isinstance(exc, api.ValidationError):
        if exc.status is None:  # our own check before sending: RunAPI never saw it
            return f"The request was not sent: {msg}."
        return f"RunAPI refused the request ({exc.status}): {msg}."
    return f"RunAPI answered unexpectedly ({exc.status or 'no status'}: {msg}).{task}"
