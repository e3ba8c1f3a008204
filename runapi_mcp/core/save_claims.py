"""One save per result image across processes: take the journal's claim, or wait for the holder's record.

Inside a process the saver's lock already serialises follows of one image; this covers servers that share a
journal. A process that cannot reach the journal saves anyway (a second copy beats a lost image), and a
holder that died stops renewing its lease, so a waiter takes the image over after at most one lease.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

import anyio

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal import ImageRecord
from runapi_mcp.core.journal.claims import SaveClaims
from runapi_mcp.core.types import SavedImage

log = logging.getLogger(__name__)

# A holder renews three times per lease, so only a dead (or frozen) one lets it run out.
SAVE_LEASE_SECONDS = 15.0
WAIT_POLL_SECONDS = 0.2


class StillSaving(Exception):
    """Another process holds the image's claim and has not finished within the wait."""


class SaveCoordinator:
    def __init__(self, claims: SaveClaims | None, *, lease: float = SAVE_LEASE_SECONDS, max_wait: float) -> None:
        self._claims = claims
        self._lease = lease
        self._max_wait = max_wait
        # Unique per saver: two servers in one process (tests, a bench) are two holders too.
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def once(
        self,
        task_id: str,
        index: int,
        save: Callable[[], Awaitable[SavedImage]],
        reuse: Callable[[ImageRecord], Awaitable[SavedImage | None]],
    ) -> SavedImage:
        """`save()` when this process holds the claim; else what the holder saved, through `reuse(record)`
        (None when that file is gone). Raises StillSaving when the holder is still at it after the wait."""
        claims = self._claims
        if claims is None:
            return await save()
        deadline = time.monotonic() + self._max_wait
        while True:
            try:
                claim = await claims.claim(task_id, index, self.holder, self._lease)
                if claim.state == "saved" and claim.record is not None:
                    reused = await reuse(claim.record)
                    if reused is not None:
                        return reused
                    if not await claims.reopen(task_id, index, self.holder, self._lease, claim.stored or ""):
                        continue  # someone else reopened it first: wait for them
            except JournalError as exc:
                log.warning("saving image %d of %s without a claim: %s", index, task_id, exc)
                return await save()
            if claim.state != "held":
                return await self._holding(claims, task_id, index, save)
            if time.monotonic() >= deadline:
                raise StillSaving
            await anyio.sleep(WAIT_POLL_SECONDS)

    async def _holding(
        self, claims: SaveClaims, task_id: str, index: int, save: Callable[[], Awaitable[SavedImage]]
    ) -> SavedImage:
        image: SavedImage | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._renew, claims, task_id, index)
                image = await save()
                group.cancel_scope.cancel()
        finally:
            # Shielded: a call cut off mid-save still frees the claim, so a waiter takes over at once.
            with anyio.CancelScope(shield=True):
                await self._settle(claims, task_id, index, image)
        if image is None:  # the save returned nothing only by being cancelled, which re-raises above
            raise RuntimeError("the save ended without a result")
        return image

    async def _renew(self, claims: SaveClaims, task_id: str, index: int) -> None:
        while True:
            await anyio.sleep(self._lease / 3)
            try:
                if not await claims.renew(task_id, index, self.holder, self._lease):
                    log.warning("image %d of %s: the save claim was taken over while saving", index, task_id)
                    return
            except JournalError as exc:
                log.warning("image %d of %s: the save claim could not be renewed: %s", index, task_id, exc)

    async def _settle(self, claims: SaveClaims, task_id: str, index: int, image: SavedImage | None) -> None:
        try:
            if image is not None and image.path is not None:
                await claims.saved(task_id, index, self.holder, image.record)
            else:
                await claims.release(task_id, index, self.holder)
        except JournalError as exc:
            log.warning("image %d of %s: the save claim could not be settled: %s", index, task_id, exc)
