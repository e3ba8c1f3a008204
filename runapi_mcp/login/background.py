"""A task group for work that runs beside a block rather than as part of it.

Unlike `async with create_task_group()`, an exception leaving the block is not wrapped in an
ExceptionGroup, and the block never waits for the background work: on exit it is cancelled.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio
import anyio.abc


@asynccontextmanager
async def background_tasks() -> AsyncGenerator[anyio.abc.TaskGroup]:
    group = anyio.create_task_group()
    await group.__aenter__()
    try:
        yield group
    finally:
        group.cancel_scope.cancel()
        await group.__aexit__(None, None, None)
