"""Spend limits: a cap per call and a daily budget per owner, enforced before anything is created.

Every task a call is about to create gets a reservation (owner, idempotency key, estimate, UTC day) in the
journal's database, in one transaction that first sums the owner's spend today and refuses the whole call
when that sum plus the call's estimate passes the budget. SQLite serialises that transaction across
processes (`BEGIN IMMEDIATE`); PostgreSQL replicas take an advisory lock on the owner first.

Today's spend is derived from the task rows, never settled by hand, so neither create nor follow needs a
hook: a reservation counts its task's real charge once the task completed, nothing once it failed or was
refused (rejected after the reservation was made), and the reserved estimate while it may still be charged.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from runapi_mcp.core import pricing
from runapi_mcp.core.config import CoreConfig
from runapi_mcp.core.errors import InputError
from runapi_mcp.core.journal import LOCAL_OWNER, Journal, TaskRow
from runapi_mcp.core.journal.engine import Engine, Statement
from runapi_mcp.runapi.client import RunAPIClient
from runapi_mcp.runapi.models import Action

# The settings a refusal tells the user to change.
PER_CALL_SETTING = "RUNAPI_MCP_MAX_COST_PER_CALL"
BUDGET_SETTING = "RUNAPI_MCP_DAILY_BUDGET"
CONFIRM_SETTING = "RUNAPI_MCP_CONFIRM_ABOVE"

# One DDL for both engines: SQLite reads DOUBLE PRECISION as REAL.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS spend_reservations (
        owner TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        amount_cents DOUBLE PRECISION NOT NULL,
        day TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (owner, idempotency_key)
    )""",
    "CREATE INDEX IF NOT EXISTS spend_reservations_owner_day ON spend_reservations (owner, day)",
)

# What one reservation counts today. A task row that is `rejected` but older than the reservation is a
# refused earlier attempt being sent again: it counts until that attempt's outcome is known.
_COUNTED = """COALESCE(SUM(CASE
        WHEN t.status = 'completed' THEN COALESCE(t.cost_cents, r.amount_cents)
        WHEN t.status = 'failed' THEN 0
        WHEN t.status = 'rejected' AND t.updated_at >= r.created_at THEN 0
        ELSE r.amount_cents END), 0)
    FROM spend_reservations r LEFT JOIN tasks t ON t.owner = r.owner AND t.idempotency_key = r.idempotency_key
    WHERE r.owner = ? AND r.day = ?"""

# Prices are fractions of a cent apart at most: a call exactly at a limit is within it.
_EPSILON = 1e-6
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose reservation table exists


class SpendLimitError(InputError):
    """A call refused by a spend limit before anything was created; the message says what to change."""


@dataclass(frozen=True)
class SpendLimits:
    """The limits in USD; None means no limit."""

    max_cost_per_call: float | None = None
    daily_budget: float | None = None
    confirm_above: float | None = None

    @classmethod
    def of(cls, config: CoreConfig) -> SpendLimits:
        return cls(config.max_cost_per_call, config.daily_budget, config.confirm_above)

    @property
    def any(self) -> bool:
        return self.max_cost_per_call is not None or self.daily_budget is not None


@dataclass(frozen=True)
class SpendToday:
    """What this server spent (or holds reserved) for one owner today, against the daily budget."""

    day: str
    spent_cents: float
    budget_cents: float | None

    @property
    def left_cents(self) -> float | None:
        return None if self.budget_cents is None else max(0.0, self.budget_cents - self.spent_cents)


def may_charge(row: TaskRow | None) -> bool:
    """A new key, or one RunAPI refused before: creating it may be charged. Any other row is a replay (RunAPI
    answers the same key with the same task), and its reservation, if any, was made by the first attempt."""
    return row is None or row.status == "rejected"


def call_keys(call_key: str, count: int) -> list[str]:
    """The idempotency key of each task of a call: count > 1 appends "#n"."""
    return [call_key] if count == 1 else [f"{call_key}#{i + 1}" for i in range(count)]


def usd(cents: float) -> str:
    return f"${cents / 100:.2f}"


@dataclass(frozen=True)
class Estimate:
    """What a planned call will cost before it is sent: per task (one image each) and in words."""

    per_task_cents: float
    tasks: int
    what: str  # "2 x 4k image at $0.16 each, live price schedule as of ..."

    @property
    def total_cents(self) -> float:
        return self.per_task_cents * self.tasks


async def estimate(client: RunAPIClient, action: Action, resolution: str | None, tasks: int) -> Estimate:
    """The estimate from RunAPI's price schedule (cached by the client), else the published list price."""
    table = await pricing.price_table(client, action)
    cents = table.cents_for(resolution)
    size = resolution or pricing.DEFAULT_RESOLUTION
    return Estimate(cents, tasks, f"{tasks} x {size} image at {usd(cents)} each, {table.source}")


def check_per_call(planned: Estimate, limits: SpendLimits) -> None:
    """Refuse a call whose estimate passes the per-call cap, naming the estimate, the cap and what to change."""
    cap = limits.max_cost_per_call
    if cap is not None and planned.total_cents > cap * 100 + _EPSILON:
        raise SpendLimitError(
            f"This call would cost about {usd(planned.total_cents)} ({planned.what}), over the per-call limit of "
            f"{usd(cap * 100)} ({PER_CALL_SETTING}). Nothing was created: lower count or output_resolution, "
            f"or raise {PER_CALL_SETTING}."
        )


def check_budget(planned: Estimate, today: SpendToday) -> None:
    """Refuse a call whose estimate passes what is left of today's budget."""
    left = today.left_cents
    if left is not None and planned.total_cents > left + _EPSILON:
        raise budget_refusal(planned, today)


def budget_refusal(planned: Estimate, today: SpendToday) -> SpendLimitError:
    left = today.left_cents or 0.0
    return SpendLimitError(
        f"This call would cost about {usd(planned.total_cents)} ({planned.what}), but only {usd(left)} of today's "
        f"{usd(today.budget_cents or 0)} budget is left ({usd(today.spent_cents)} spent or reserved through this "
        f"server today, UTC; {BUDGET_SETTING}). Nothing was created: lower count or output_resolution, wait for "
        f"tomorrow (UTC), or raise {BUDGET_SETTING}."
    )


class SpendLedger:
    """Reservations for one owner's calls in the journal's database."""

    def __init__(
        self,
        journal: Journal,
        limits: SpendLimits,
        owner: str | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = journal.engine
        self._limits = limits
        self._owner = owner or LOCAL_OWNER
        self._clock = clock

    @property
    def limits(self) -> SpendLimits:
        return self._limits

    async def reserve(self, keys: Sequence[str], planned: Estimate) -> None:
        """Reserve the per-task estimate for each key (tasks about to be created), or refuse them all when the
        sum passes a limit. A key reserved before (a retry of a refused task) is reserved again."""
        check_per_call(planned, self._limits)
        per_task_cents, estimate = planned.per_task_cents, planned.total_cents
        budget = self._limits.daily_budget
        if budget is None or not keys:
            return
        await self._ensure_table()
        now = self._clock()
        day = _day(now)
        others = f" AND r.idempotency_key NOT IN ({', '.join('?' for _ in keys)})"
        spent_args = (self._owner, day, *keys)
        guard = f"(SELECT {_COUNTED}{others}) + ? <= ?"
        statements = [*self._lock()]
        for key in keys:
            statements.append(
                Statement(
                    "INSERT INTO spend_reservations (owner, idempotency_key, amount_cents, day, created_at) "
                    f"SELECT ?, ?, ?, ?, ? WHERE {guard} "
                    "ON CONFLICT (owner, idempotency_key) DO UPDATE SET amount_cents = excluded.amount_cents, "
                    "day = excluded.day, created_at = excluded.created_at",
                    (self._owner, key, per_task_cents, day, now, *spent_args, estimate, budget * 100 + _EPSILON),
                )
            )
        statements.append(Statement(f"SELECT {_COUNTED}{others}", spent_args))
        results = await self._engine.run(statements, transaction=True)
        inserted = results[len(statements) - len(keys) - 1].rowcount
        if inserted > 0:
            return
        spent = float(results[-1].rows[0][0] or 0)  # type: ignore[arg-type]
        raise budget_refusal(planned, SpendToday(day, spent, budget * 100))

    async def today(self) -> SpendToday:
        """Today's spend through this server for this owner (nothing read when no budget is set)."""
        budget = self._limits.daily_budget
        day = _day(self._clock())
        if budget is None:
            return SpendToday(day, 0.0, None)
        await self._ensure_table()
        (result,) = await self._engine.run([Statement(f"SELECT {_COUNTED}", (self._owner, day))])
        return SpendToday(day, float(result.rows[0][0] or 0), budget * 100)  # type: ignore[arg-type]

    def _lock(self) -> list[Statement]:
        """PostgreSQL runs this transaction at READ COMMITTED: serialise one owner's reservations explicitly."""
        if _is_postgres(self._engine):
            return [_advisory_lock(f"runapi-mcp-spend:{self._owner}")]
        return []

    async def _ensure_table(self) -> None:
        if self._engine in _ready:
            return
        # Replicas starting together would race on PostgreSQL's catalog even with IF NOT EXISTS: one at a time.
        lock = [_advisory_lock("runapi-mcp-spend-schema")] if _is_postgres(self._engine) else []
        await self._engine.run([*lock, *(Statement(sql) for sql in _SCHEMA)], transaction=True)
        _ready.add(self._engine)


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def _advisory_lock(name: str) -> Statement:
    return Statement("SELECT pg_advisory_xact_lock(hashtext(?))", (name,))


def _is_postgres(engine: Engine) -> bool:
    return engine.location.startswith("postgresql://")
