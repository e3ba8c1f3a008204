"""POST /callbacks/<token>: RunAPI says a task has news. A wake-up only: the body is never trusted.

Answers fast: 204 for a live token (the task's waiting call is woken, or the task is marked for the next
get_task), 404 for an unknown or expired one (nothing changes), 413 for a body over MAX_CALLBACK_BYTES,
429 past the rate limit. Needs no RunAPI key: the token in the path is the capability.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runapi_mcp.core.callbacks import CALLBACK_PATH, current_desk
from runapi_mcp.core.errors import JournalError

log = logging.getLogger(__name__)

# A task's status JSON is a few hundred bytes; a body this big is not RunAPI's.
MAX_CALLBACK_BYTES = 64 * 1024
# Callbacks the endpoint takes per second (a burst of up to CALLBACK_BURST at once), from all senders.
CALLBACK_RATE = 50.0
CALLBACK_BURST = 200.0


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self._rate, self._burst = rate, burst
        self._tokens, self._at = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def callback_route() -> Route:
    bucket = TokenBucket(CALLBACK_RATE, CALLBACK_BURST)

    async def receive(request: Request) -> Response:
        if not bucket.take():
            return Response(status_code=429, headers={"Retry-After": "1"})
        if not await _small_body(request):
            return Response(status_code=413)
        desk = current_desk()
        if desk is None:
            return Response(status_code=404)
        token = str(request.path_params.get("token", ""))
        try:
            live = await desk.receive(token)
        except JournalError as exc:
            # The sender retries; polling still finds the result meanwhile.
            log.warning("callback not taken: %s", exc)
            return Response(status_code=503, headers={"Retry-After": "5"})
        return Response(status_code=204 if live else 404)

    return Route(CALLBACK_PATH + "{token}", receive, methods=["POST"])


async def _small_body(request: Request) -> bool:
    """Read (and drop) the body, refusing it once it passes the limit: it carries nothing we use."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_CALLBACK_BYTES):
        return False
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > MAX_CALLBACK_BYTES:
            return False
    return True
