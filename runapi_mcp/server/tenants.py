"""Multi-tenant HTTP: a key is a tenant only once RunAPI has accepted it.

Before a per-request key gets a folder, a journal row or an upload, RunAPI is asked who it is (`GET /me`,
free), once per key and then again after a while; a key RunAPI refuses leaves nothing behind. Checking
first rather than cleaning up after a refused create keeps the order that protects paid work: the intent
is still journaled before the create is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
from pydantic import SecretStr

from runapi_mcp.core.jobs import owner_id
from runapi_mcp.runapi.client import RunAPIClient

# How long an accepted key is trusted without asking again; a revoked key then fails at its create (401).
ACCEPTED_FOR_SECONDS = 600.0
# At most this many accepted keys are remembered (the oldest goes first); forgetting one costs one /me call.
MAX_REMEMBERED = 10_000


class AcceptedKeys:
    """The owner ids of keys RunAPI accepted recently. Refusals are not remembered: a key may become valid."""

    def __init__(self, *, ttl: float = ACCEPTED_FOR_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._until: dict[str, float] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def check(self, client: RunAPIClient, key: SecretStr) -> None:
        """Return when RunAPI accepts `key`; raise its RunAPIError (401 for a refused key) otherwise."""
        owner = owner_id(key.get_secret_value())
        if self._fresh(owner):
            return
        lock = self._locks.setdefault(owner, anyio.Lock())
        async with lock:  # concurrent first calls of one key ask once
            if self._fresh(owner):
                return
            try:
                await client.with_api_key(key).me()
            finally:
                if not lock.statistics().tasks_waiting:
                    self._locks.pop(owner, None)
            if len(self._until) >= MAX_REMEMBERED:
                del self._until[next(iter(self._until))]
            self._until[owner] = self._clock() + self._ttl

    def _fresh(self, owner: str) -> bool:
        until = self._until.get(owner)
        return until is not None and until > self._clock()
