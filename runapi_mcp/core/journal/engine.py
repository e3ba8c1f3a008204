"""What the journal needs of a database engine: run a few statements, alone or as one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# Every row's columns in one order: what the journal selects and decodes.
COLUMNS = (
    "owner, idempotency_key, task_id, action, params, output_dir, status, created_at, updated_at, images, error, "
    "cost_cents"
)


@dataclass(frozen=True)
class Statement:
    sql: str  # with `?` placeholders; an engine that spells them otherwise rewrites them
    args: tuple[object, ...] = ()


@dataclass(frozen=True)
class Result:
    rowcount: int
    rows: list[tuple[object, ...]]


class Conflict(Exception):
    """A statement broke a unique constraint (a task id already recorded under another key)."""


class Engine(Protocol):
    @property
    def location(self) -> str:
        """Where the journal lives, for messages: a file, or a database server without its credentials."""
        ...

    async def run(self, statements: Sequence[Statement], *, transaction: bool = False) -> list[Result]:
        """Run the statements in order; with `transaction`, as one write transaction taken before the first.
        Raises Conflict on a unique-constraint violation, JournalError on anything else the database says."""
        ...

    async def close(self) -> None:
        """Release the connections. Safe to call twice; the journal cannot be used afterwards."""
        ...
