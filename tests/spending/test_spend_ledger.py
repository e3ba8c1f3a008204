"""The reservation ledger on both engines: reservations racing from separate journals (as from separate
processes or replicas) never pass the budget, and today's spend is derived from the task rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from runapi_mcp.core.journal import Journal, TaskParams
from runapi_mcp.core.journal.engine import Statement
from runapi_mcp.core.spending import Estimate, SpendLedger, SpendLimitError, SpendLimits
from tests.support.journals import OpenJournal, journals_on

pytestmark = pytest.mark.anyio

ONE_1K = Estimate(6.0, 1, "1 x 1k image at $0.06 each, test prices")
DAY = 86_400.0
RACERS = 12  # reservations racing for a budget of 5, from 4 journals


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0  # 2023-11-14T22:13:20Z

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def open_store(tmp_path: Path, database_url: str | None) -> AsyncIterator[OpenJournal]:
    async with journals_on(tmp_path, database_url) as open_one:
        yield open_one


def ledger(journal: Journal, budget: float, owner: str | None = None, clock: Clock | None = None) -> SpendLedger:
    return SpendLedger(journal, SpendLimits(daily_budget=budget), owner, clock=clock or Clock())


# PostgreSQL only: each reservation's insert waits a moment after its budget check, so racing transactions
# overlap every time (without the per-owner lock they would all pass the check together).
SLOW_INSERT = (
    "CREATE FUNCTION slow_reservation() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$ "
    "LANGUAGE plpgsql",
    "CREATE TRIGGER slow_reservation BEFORE INSERT ON spend_reservations FOR EACH ROW "
    "EXECUTE FUNCTION slow_reservation()",
)


async def test_reservations_racing_from_four_journals_never_pass_the_budget(
    open_store: OpenJournal, database_url: str | None
) -> None:
    journals = [open_store() for _ in range(4)]
    for journal in journals:
        await ledger(journal, budget=0.30).today()  # the table exists, and each journal knows it, before the race
    if database_url is not None:
        await journals[0].engine.run([Statement(sql) for sql in SLOW_INSERT])
    granted: list[str] = []
    refused: list[str] = []

    async def reserve(journal: Journal, key: str) -> None:
        try:
            await ledger(journal, budget=0.30).reserve([key], ONE_1K)
        except SpendLimitError:
            refused.append(key)
        else:
            granted.append(key)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for i in range(RACERS):
                group.start_soon(reserve, journals[i % 4], f"key-{i}")
    assert (len(granted), len(refused)) == (5, RACERS - 5)
    today = await ledger(journals[0], budget=0.30).today()
    assert (today.spent_cents, today.left_cents) == (30.0, 0.0)


async def test_a_call_is_reserved_whole_or_not_at_all(open_store: OpenJournal) -> None:
    journal = open_store()
    spend = ledger(journal, budget=0.20)
    await spend.reserve(["a#1", "a#2"], Estimate(6.0, 2, "2 x 1k"))
    with pytest.raises(SpendLimitError, match=r"about \$0\.12 .* only \$0\.08 of today's \$0\.20 budget is left"):
        await spend.reserve(["b#1", "b#2"], Estimate(6.0, 2, "2 x 1k"))
    assert (await spend.today()).spent_cents == 12.0  # neither of b's tasks was reserved


async def test_spend_is_the_real_charge_once_completed_and_nothing_once_failed_or_refused(
    open_store: OpenJournal,
) -> None:
    journal = open_store()
    clock = Clock()
    spend = ledger(journal, budget=1.00, clock=clock)
    for key in ("done", "failed", "refused", "in-flight", "never-recorded"):
        await spend.reserve([key], Estimate(16.0, 1, "1 x 4k"))
    for key in ("done", "failed", "refused", "in-flight"):
        await journal.record_intent(idempotency_key=key, action="text_to_image", params=TaskParams(), output_dir=None)
    for key in ("done", "failed", "in-flight"):
        await journal.attach_task_id(key, f"task-{key}")
    await journal.update("task-done", status="completed", cost_cents=12.5)
    await journal.update("task-failed", status="failed")
    await journal.mark_intent("refused", status="rejected", error="400")
    # 12.5 charged + 0 failed + 0 refused + 16 in flight + 16 reserved before its intent was written
    assert (await spend.today()).spent_cents == 44.5


async def test_a_refused_task_sent_again_is_reserved_again(open_store: OpenJournal) -> None:
    journal = open_store()
    clock = Clock()
    spend = ledger(journal, budget=0.16, clock=clock)
    await spend.reserve(["k"], Estimate(16.0, 1, "1 x 4k"))
    await journal.record_intent(idempotency_key="k", action="text_to_image", params=TaskParams(), output_dir=None)
    await journal.mark_intent("k", status="rejected", error="400")
    assert (await spend.today()).spent_cents == 0.0
    await anyio.sleep(0.01)  # the reservation is newer than the refusal (both on the real clock's scale)
    spend = ledger(journal, budget=0.16, clock=_real_clock())
    await spend.reserve(["k"], Estimate(16.0, 1, "1 x 4k"))
    assert (await spend.today()).spent_cents == 16.0  # counted while the retry's outcome is unknown
    with pytest.raises(SpendLimitError):
        await spend.reserve(["other"], Estimate(16.0, 1, "1 x 4k"))


async def test_each_owner_has_its_own_budget_and_each_utc_day_starts_at_zero(open_store: OpenJournal) -> None:
    journal = open_store()
    clock = Clock()
    alice, bob = ledger(journal, 0.06, "alice", clock), ledger(journal, 0.06, "bob", clock)
    await alice.reserve(["k"], ONE_1K)
    await bob.reserve(["k"], ONE_1K)  # the same key under another owner is another task
    with pytest.raises(SpendLimitError):
        await alice.reserve(["k2"], ONE_1K)
    clock.now += DAY
    await alice.reserve(["k2"], ONE_1K)
    assert (await alice.today()).spent_cents == 6.0


def _real_clock() -> Clock:
    import time

    clock = Clock()
    clock.now = time.time()
    return clock
