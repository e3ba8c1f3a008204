"""Callback capabilities and wake-ups: a per-task token in `callback_url`, and the calls waiting on tasks.

A token is 256 random bits, given to RunAPI inside the callback URL and kept in the journal as its SHA-256
(a leaked journal names no usable URL); its first 16 characters (a selector, 96 of those bits) find the row,
and the whole token is then compared with the stored hash in constant time. While a create's outcome is
unknown the token is also kept as it is, since a resend must carry the same body; the answer removes it.
A token is good for one task and expires with it (the task's result URLs live 7 days; so does the token).
A callback proves nothing about the task: its body is never read for a result. It only wakes the call waiting on
that task, which confirms with one status read under its own key; with no call waiting here, the journal marks the
task so the next get_task reads it at once.

`Wakeups` is the process's registry of waiting calls. With the PostgreSQL journal a wake-up is also sent to
every replica (the journal's notify hook), so a callback that reaches one replica wakes a call on another.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager

import anyio

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal import LOCAL_OWNER, Journal, TaskRow
from runapi_mcp.core.journal.notify import announce, listening
from runapi_mcp.core.journal.signals import claim_token, forget_raw_token, mark_woken, take_woken, token_by_selector
from runapi_mcp.runapi.polling import WakeSignal

log = logging.getLogger(__name__)

CALLBACK_PATH = "/callbacks/"
TOKEN_BYTES = 32
TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600.0
# A token is url-safe base64 of TOKEN_BYTES: 43 characters. Anything else is not ours, without a lookup.
TOKEN_LENGTH = 43
SELECTOR_LENGTH = 16


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    return len(token) == TOKEN_LENGTH and all(c.isalnum() or c in "-_" for c in token)


def same_digest(stored: str, offered: str) -> bool:
    """Constant-time: how much of a guess matched never shows in the answer's timing."""
    return hmac.compare_digest(stored.encode(), offered.encode())


def callback_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + CALLBACK_PATH + token


class Wakeups:
    """The calls in this process waiting on a task, by task id; a wake-up ends their current sleep."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[WakeSignal]] = {}

    @contextmanager
    def waiting(self, task_id: str) -> Generator[WakeSignal]:
        signal = WakeSignal()
        self._waiting.setdefault(task_id, set()).add(signal)
        try:
            yield signal
        finally:
            signals = self._waiting.get(task_id)
            if signals is not None:
                signals.discard(signal)
                if not signals:
                    del self._waiting[task_id]

    def wake(self, task_id: str) -> bool:
        """True when a call here was waiting on the task (and is now woken)."""
        signals = self._waiting.get(task_id)
        for signal in signals or ():
            signal.set()
        return bool(signals)

    def is_waiting(self, task_id: str) -> bool:
        return bool(self._waiting.get(task_id))


# One registry per process: the HTTP endpoint and every call's follower meet here.
WAKEUPS = Wakeups()


class CallbackIssuer:
    """Gives each create its callback URL, with a token only this task's callback can carry."""

    def __init__(self, journal: Journal, public_url: str, owner: str | None) -> None:
        self._journal = journal
        self._public_url = public_url
        self._owner = LOCAL_OWNER if owner is None else owner

    async def url_for(self, idempotency_key: str) -> str | None:
        """The callback URL for this create; None (poll only) when the journal cannot keep its token, or the
        create was answered before (then its first body had a URL this server can no longer rebuild)."""
        token = new_token()
        try:
            kept = await claim_token(
                self._journal,
                token,
                token[:SELECTOR_LENGTH],
                token_digest(token),
                owner=self._owner,
                idempotency_key=idempotency_key,
                expires_at=time.time() + TOKEN_LIFETIME_SECONDS,
            )
        except JournalError as exc:
            log.warning("creating without a callback: %s", exc)
            return None
        return None if kept is None else callback_url(self._public_url, kept)

    async def answered(self, idempotency_key: str) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await forget_raw_token(self._journal, owner=self._owner, idempotency_key=idempotency_key)
            except JournalError as exc:
                log.warning("a callback token's resend copy stays in the journal: %s", exc)


async def woken(journal: Journal, row: TaskRow) -> bool:
    """Whether a callback came for this task while no call here was waiting on it (the mark is cleared)."""
    try:
        return await take_woken(journal, owner=row.owner, idempotency_key=row.idempotency_key)
    except JournalError:
        return False


class CallbackDesk:
    """Where the HTTP endpoint hands a callback: find its task by token, then wake whoever waits on it."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def receive(self, token: str) -> bool:
        """True when the token is a live one (the task is woken or marked); False changes nothing."""
        if not well_formed(token):
            return False
        selector = token[:SELECTOR_LENGTH]
        found = await token_by_selector(self.journal, selector, now=time.time())
        if found is None or not same_digest(found.token_hash, token_digest(token)):
            return False
        await mark_woken(self.journal, selector, now=time.time())
        if found.task_id is not None:
            WAKEUPS.wake(found.task_id)
            await announce(self.journal, found.task_id)
        return True


_DESKS: list[CallbackDesk] = []


def current_desk() -> CallbackDesk | None:
    """The desk of the server running in this process (the newest one, in tests that run several)."""
    return _DESKS[-1] if _DESKS else None


@asynccontextmanager
async def callback_desk(journal: Journal, *, public_url: str | None) -> AsyncGenerator[CallbackDesk | None]:
    """Open for the server's lifetime when callbacks are on; with PostgreSQL, also hears other replicas."""
    if not public_url:
        yield None
        return
    desk = CallbackDesk(journal)
    _DESKS.append(desk)
    try:
        async with listening(journal, WAKEUPS.wake):
            yield desk
    finally:
        _DESKS.remove(desk)
