"""Hosted replicas, in one process: image services sharing one journal (SQLite file, or real PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr

from runapi_mcp.core.config import CoreConfig
from runapi_mcp.core.journal import Journal, open_journal
from runapi_mcp.core.previews_store import PreviewStore
from runapi_mcp.core.service import ImageService
from runapi_mcp.core.sources import SourceResolver
from runapi_mcp.core.types import Workspace
from runapi_mcp.core.urlsafety import own_origin
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401 - fixtures used by this folder
from tests.server.helpers import TEST_KEY

OWNER = "tenant-a-hash"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.3, balance_cents=10_000)) as sb:
        yield sb


@dataclass
class Replica:
    """One replica: its own HTTP client (its downloads counted), journal connection and store; no shared disk."""

    service: ImageService
    journal: Journal
    workspace: Workspace
    downloads: Counter[str]
    requests: list[str]  # every request this replica sent, to RunAPI or a file host


@dataclass
class Rig:
    sandbox: RunningSandbox
    make: Callable[..., Replica]
    downloads: Counter[str]  # every replica's GETs of result files, by path


@pytest.fixture
async def rig(tmp_path: Path, sandbox: RunningSandbox, database_url: str | None) -> AsyncIterator[Rig]:
    downloads: Counter[str] = Counter()
    async with AsyncExitStack() as stack:

        def make(name: str = "replica", owner: str = OWNER, **config: object) -> Replica:
            sent: list[str] = []

            async def count(request: httpx2.Request) -> None:
                sent.append(f"{request.method} {request.url.path}")
                if request.method == "GET" and request.url.path.startswith("/files/"):
                    downloads[request.url.path] += 1

            http = httpx2.AsyncClient(event_hooks={"request": [count]}, follow_redirects=False)
            stack.push_async_callback(http.aclose)
            journal = open_journal(sqlite_path=tmp_path / "shared" / "journal.sqlite3", database_url=database_url)
            stack.push_async_callback(journal.close)
            home = tmp_path / name
            home.mkdir(exist_ok=True)
            core = CoreConfig(
                base_url=sandbox.url,
                working_dir=home,
                fallback_output_dir=home / "fallback",
                wait_seconds=10,
                poll_initial_seconds=0.02,
                poll_max_seconds=0.05,
                hosted=True,
                **config,  # pyright: ignore[reportArgumentType]
            )
            client = RunAPIClient(
                http, base_url=sandbox.url, api_key=SecretStr(TEST_KEY), retry=RetryPolicy(max_retries=2)
            )
            hosts = own_origin(sandbox.url)
            sources = SourceResolver(client, journal, max_bytes=core.max_input_bytes, allow_hosts=hosts, owner=owner)
            service = ImageService(
                client=client,
                journal=journal,
                http=http,
                config=core,
                sources=sources,
                owner=owner,
                previews=PreviewStore(journal),
            )
            return Replica(service, journal, Workspace(home, (home,)), downloads, sent)

        yield Rig(sandbox, make, downloads)


async def no_progress(done: float, total: float | None, message: str) -> None:
    return None
