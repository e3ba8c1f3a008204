"""Browser sign-in started from inside a host: the loopback listener runs in the server, in the background.

A tool call that finds no key starts one login (or reuses the one already waiting), hands its URL to
the client and returns at once; this module waits for the browser, exchanges the code and saves the key
in RunAPI's shared config file, where the next call finds it (AppState.refresh_key).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import httpx2

from runapi_mcp.login.background import background_tasks
from runapi_mcp.login.errors import LoginError
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient
from runapi_mcp.settings import Settings

log = logging.getLogger(__name__)

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class PendingLogin:
    url: str
    display_code: str
    elicitation_id: str
    scope: anyio.CancelScope
    finished: anyio.Event = field(default_factory=anyio.Event)
    succeeded: bool = False
    # Run once the key is saved (e.g. telling a 2025-era client its URL elicitation is complete).
    on_success: list[Callable[[], Awaitable[None]]] = field(default_factory=list[Callable[[], Awaitable[None]]])


def can_sign_in_here(settings: Settings) -> bool:
    """Only where the browser runs on the server's machine: the callback listener is on loopback."""
    if settings.sandbox or settings.http_auth == "per-request":
        return False
    if settings.transport == "stdio":
        return True
    return settings.http_host in _LOOPBACK and not settings.http_stateless


class HostLogin:
    def __init__(
        self, settings: Settings, http: httpx2.AsyncClient, group: anyio.abc.TaskGroup, wait_seconds: float | None
    ) -> None:
        self._settings = settings
        self._http = http
        self._group = group
        self._wait_seconds = wait_seconds
        self.pending: PendingLogin | None = None

    async def begin(self) -> PendingLogin:
        """The login that is waiting for the browser, started now if none is."""
        pending = self.pending
        if pending is None or pending.finished.is_set():
            pending = self.pending = await self._group.start(self._run)
        return pending

    def cancel(self, pending: PendingLogin) -> None:
        pending.scope.cancel()

    async def _run(self, *, task_status: anyio.abc.TaskStatus[PendingLogin]) -> None:
        # Imported here: the login flow (its callback listener, PKCE) is for a session that finds no key, and
        # every session's start-up would pay for it.
        from runapi_mcp.login.flow import DEFAULT_TIMEOUT, BrowserLogin

        client = RunAPIClient(
            self._http, base_url=self._settings.base_url, api_key=None, retry=RetryPolicy(max_retries=0)
        )
        scope = anyio.CancelScope()
        pending: PendingLogin | None = None
        with scope:
            async with BrowserLogin(client, self._settings.config_file) as login:
                pending = PendingLogin(login.authorize_url, login.display_code, uuid.uuid4().hex, scope)
                task_status.started(pending)
                try:
                    outcome = await login.finish(DEFAULT_TIMEOUT if self._wait_seconds is None else self._wait_seconds)
                except LoginError as exc:
                    log.warning("The sign-in started from the host did not finish: %s", exc)
                except Exception:  # a bug here must not take the server down with it
                    log.exception("The sign-in started from the host failed")
                else:
                    pending.succeeded = True
                    log.info("Signed in to RunAPI as %s; the key is saved in %s.", outcome.account, outcome.config_file)
                finally:
                    pending.finished.set()
        if pending is not None and pending.succeeded:
            for notify in pending.on_success:
                try:
                    await notify()
                except Exception as exc:  # the client may be gone by now; the key is saved regardless
                    log.debug("could not tell the client the sign-in finished: %r", exc)


@asynccontextmanager
async def open_host_login(
    settings: Settings, http: httpx2.AsyncClient, *, wait_seconds: float | None = None
) -> AsyncGenerator[HostLogin | None]:
    """A HostLogin for the server's lifetime (None where sign-in cannot work); shutdown stops a waiting one.
    `wait_seconds` bounds the wait for the browser (None: the login flow's default)."""
    if not can_sign_in_here(settings):
        yield None
        return
    async with background_tasks() as group:
        yield HostLogin(settings, http, group, wait_seconds)
