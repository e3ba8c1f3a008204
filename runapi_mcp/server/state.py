"""What the server holds for its lifetime: one HTTP client, the RunAPI client, the journal."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import httpx2
from pydantic import SecretStr

from runapi_mcp import __version__
from runapi_mcp.core.config import CoreConfig
from runapi_mcp.core.jobs import owner_id
from runapi_mcp.core.journal import Journal, open_journal
from runapi_mcp.login.keysource import KeyWatcher
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient
from runapi_mcp.runapi.errors import RunAPIError
from runapi_mcp.server.host_login import HostLogin, open_host_login
from runapi_mcp.server.lazy_transport import LazyTransport
from runapi_mcp.server.tenants import AcceptedKeys
from runapi_mcp.settings import Settings

# The generation flow, the callback desk and the shared image store are imported where they are first used
# (a tool call; callbacks or hosted mode only): a host starts the server for every session and waits for
# its first answer, tools/list, which needs none of them.
if TYPE_CHECKING:
    from runapi_mcp.core.previews_store import PreviewStore
    from runapi_mcp.core.service import ImageService

log = logging.getLogger(__name__)

SANDBOX_KEY = "sandbox-key"


@dataclass
class AppState:
    settings: Settings
    http: httpx2.AsyncClient
    client: RunAPIClient
    journal: Journal
    core: CoreConfig  # what the flow reads of the settings, built once
    sandbox_url: str | None = None
    # Uploaded local images by content hash, reused across calls until they expire.
    upload_cache: dict[str, tuple[str, float]] = field(default_factory=dict[str, tuple[str, float]])
    # The key seam: a key saved to the config file after start-up (runapi-mcp login) is used from the next call.
    key_watcher: KeyWatcher | None = None
    host_login: HostLogin | None = None
    # Multi-tenant HTTP: per-request keys RunAPI has accepted, checked before anything is kept for one.
    accepted_keys: AcceptedKeys = field(default_factory=AcceptedKeys)
    # Hosted (a shared database): the result images' store in that database, shared by every call.
    previews: PreviewStore | None = None
    # Said in every result of a sandbox that had to move off its saved port (its old URLs no longer work).
    sandbox_notes: tuple[str, ...] = ()

    def refresh_key(self) -> None:
        change = self.key_watcher.poll() if self.key_watcher is not None else None
        if change is None or change.api_key == self.settings.api_key:
            return
        try:
            client = self.client.with_api_key(change.api_key)
        except RunAPIError as exc:
            log.warning("Ignoring the key in %s: %s", self.settings.config_file, exc.message)
            return
        self.client = client
        self.settings = self.settings.model_copy(update={"api_key": change.api_key, "api_key_source": change.source})
        log.info("Now using the RunAPI key from %s.", change.source or "nowhere: it was removed")

    def service(self, api_key: SecretStr | None = None, *, host: str | None = None) -> ImageService:
        """The flow for one call. A per-request key (multi-tenant HTTP) gets its own client and journal view."""
        from runapi_mcp.core.service import ImageService
        from runapi_mcp.core.sources import SourceResolver
        from runapi_mcp.core.urlsafety import own_origin

        client, owner = self.client, None
        if api_key is not None:
            client = self.client.with_api_key(api_key)
            owner = owner_id(api_key.get_secret_value())
        hosts = own_origin(self.settings.base_url)
        sources = SourceResolver(
            client,
            self.journal,
            max_bytes=self.settings.max_input_bytes,
            allow_hosts=hosts,
            owner=owner,
            cache=self.upload_cache if owner is None else None,
        )
        return ImageService(
            client=client,
            journal=self.journal,
            http=self.http,
            config=self.core,
            sources=sources,
            owner=owner,
            sandbox=self.sandbox_url is not None,
            host=host,
            previews=self.previews,
        )


@asynccontextmanager
async def open_state(
    settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None
) -> AsyncGenerator[AppState]:
    """Build the process-wide state; `transport` is the test seam for the HTTP boundary."""
    # Pillow work is CPU-bound: more threads than cores only add memory (decoded images) and GIL
    # contention that stalls the event loop. anyio's default pool allows 40.
    anyio.to_thread.current_default_thread_limiter().total_tokens = max(4, 2 * (os.cpu_count() or 2))
    async with AsyncExitStack() as stack:
        sandbox_url: str | None = None
        sandbox_notes: tuple[str, ...] = ()
        if settings.sandbox:
            from runapi_mcp.sandbox import SandboxConfig, running_sandbox

            config = SandboxConfig(latency=settings.sandbox_latency)
            sandbox = await stack.enter_async_context(running_sandbox(config, state_dir=settings.state_dir))
            sandbox_url = sandbox.url
            if sandbox.lost_port is not None:
                sandbox_notes = (
                    f"SANDBOX: its saved port {sandbox.lost_port} was taken at start, so it now serves on port "
                    f"{sandbox.port}: image URLs on port {sandbox.lost_port} given before no longer work "
                    "(saved files do; get_task gives new URLs only for unfinished tasks).",
                )
            settings = settings.replace(base_url=sandbox_url, api_key=SecretStr(SANDBOX_KEY))
            log.info(
                "serving against the in-process RunAPI sandbox at %s, saved in %s", sandbox_url, sandbox.state_file
            )
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
        http = await stack.enter_async_context(
            httpx2.AsyncClient(
                transport=transport or LazyTransport(lambda: httpx2.AsyncHTTPTransport(limits=limits)),
                timeout=httpx2.Timeout(settings.request_timeout, connect=10.0),
                follow_redirects=False,
            )
        )
        client = RunAPIClient(
            http,
            base_url=settings.base_url,
            api_key=settings.api_key,
            retry=RetryPolicy(max_retries=settings.max_retries),
            user_agent=f"runapi-mcp/{__version__}",
        )
        # Sandbox tasks belong to the sandbox's saved account (state_dir/sandbox.sqlite3): keep them out of
        # the real task history.
        journal_name = "sandbox-journal.sqlite3" if sandbox_url else "journal.sqlite3"
        url = None if sandbox_url or settings.database_url is None else settings.database_url.get_secret_value()
        journal = open_journal(sqlite_path=settings.state_dir / journal_name, database_url=url)
        stack.push_async_callback(journal.close)
        if settings.public_url:  # callbacks are on only with a public URL
            from runapi_mcp.core.callbacks import callback_desk

            await stack.enter_async_context(callback_desk(journal, public_url=settings.public_url))
        host_login = await stack.enter_async_context(open_host_login(settings, http))
        core = settings.core_config()
        yield AppState(
            settings=settings,
            http=http,
            client=client,
            journal=journal,
            core=core,
            sandbox_url=sandbox_url,
            key_watcher=KeyWatcher.for_settings(settings),
            host_login=host_login,
            previews=_shared_store(journal) if core.hosted else None,
            sandbox_notes=sandbox_notes,
        )


def _shared_store(journal: Journal) -> PreviewStore:
    """Hosted mode's store of result images, in the shared database."""
    from runapi_mcp.core.previews_store import PreviewStore

    return PreviewStore(journal)
