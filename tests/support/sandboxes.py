"""The one sandbox factory: the RunAPI sandbox in the test's event loop, or on its own thread.

In the loop (`sandbox_in_loop`) suits tests whose server runs in process too. On a thread
(`sandbox_on_thread`) suits tests that block while a server subprocess talks to it, and sync tests.
Keyword arguments override `SandboxConfig` fields; the defaults are quick and well funded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, SandboxThread, running_sandbox

DEFAULTS: dict[str, Any] = {"latency": 0.05, "balance_cents": 10_000}


def sandbox_config(**overrides: Any) -> SandboxConfig:
    return SandboxConfig(**{**DEFAULTS, **overrides})


@asynccontextmanager
async def sandbox_in_loop(**overrides: Any) -> AsyncIterator[RunningSandbox]:
    """The sandbox on a loopback port (port 0) served from the current event loop."""
    async with running_sandbox(sandbox_config(**overrides)) as sandbox:
        yield sandbox


def sandbox_on_thread(**overrides: Any) -> SandboxThread:
    """The sandbox on a background thread with its own loop; use it as a context manager."""
    return SandboxThread(sandbox_config(**overrides))
