"""The sandbox's background loop: finishes tasks on time and delivers their callbacks, on the sandbox's loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import httpx2

from runapi_mcp.sandbox.state import SandboxState

IDLE_WAKE = 1.0
"""Wall seconds between checks when nothing is due (new tasks and clock moves wake the loop at once)."""


async def run_background(state: SandboxState) -> None:
    """Runs until cancelled; deliveries in flight are cancelled with it."""
    timeout = httpx2.Timeout(state.config.callback_timeout)
    # trust_env off: a proxy set in the environment must not see (or swallow) loopback callbacks.
    async with (
        httpx2.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False) as http,
        anyio.create_task_group() as group,
    ):
        while True:
            now = state.now()
            for delivery in state.callbacks.pop_due(now):
                group.start_soon(state.callbacks.deliver, delivery, http)
            await state.sleep_until_due(IDLE_WAKE)


@asynccontextmanager
async def background(state: SandboxState) -> AsyncGenerator[None]:
    """Run the background loop while the block runs; stop it cleanly on exit."""
    task = asyncio.get_running_loop().create_task(run_background(state))
    try:
        yield
    finally:
        task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.wait({task})
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
