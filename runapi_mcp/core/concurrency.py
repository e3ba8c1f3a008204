"""Run coroutines side by side and get plain exceptions back, not anyio's exception groups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

T = TypeVar("T")


async def gather_settled(jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T | Exception]:
    """Each job's result or the Exception it raised, in order. Cancellation still propagates."""
    results: list[T | Exception] = [RuntimeError("not run")] * len(jobs)

    async def run(i: int) -> None:
        try:
            results[i] = await jobs[i]()
        except Exception as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i in range(len(jobs)):
            tg.start_soon(run, i)
    return results


async def gather(jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """All results in order, or the first job's exception (by position) once all have settled."""
    settled = await gather_settled(jobs)
    for item in settled:
        if isinstance(item, Exception):
            raise item
    return settled  # type: ignore[return-value]
