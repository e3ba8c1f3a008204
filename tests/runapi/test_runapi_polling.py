from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from runapi_mcp.runapi import errors
from runapi_mcp.runapi.models import _STATUS_ALIASES, TaskStatus  # pyright: ignore[reportPrivateUsage]
from runapi_mcp.runapi.polling import PollOutcome, PollSchedule, poll_until_done

pytestmark = pytest.mark.anyio

TASK = "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14"
FAST = PollSchedule(initial=0.001, factor=2.0, maximum=0.004, floor=0.001)


def status(state: str, retry_after: float | None = None, **extra: Any) -> TaskStatus:
    return TaskStatus(id=TASK, status=state, **extra).with_retry_after(retry_after)


def scripted(*replies: TaskStatus | errors.RunAPIError) -> tuple[Callable[[], Awaitable[TaskStatus]], list[float]]:
    """A fetch that returns (or raises) each reply in turn, repeating the last; records when it was called."""
    calls: list[float] = []
    items = list(replies)

    async def fetch() -> TaskStatus:
        calls.append(time.monotonic())
        reply = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(reply, errors.RunAPIError):
            raise reply
        return reply

    return fetch, calls


def within(seconds: float) -> float:
    return time.monotonic() + seconds


async def test_polls_until_completed_and_reports_every_poll() -> None:
    """Polling stops at the terminal status and reports each poll with its count."""
    fetch, calls = scripted(status("pending"), status("processing"), status("completed", images=[{"url": "u"}]))
    seen: list[tuple[str | None, int]] = []

    async def on_poll(current: TaskStatus | None, polls: int) -> None:
        seen.append((current.status if current else None, polls))

    outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(5), on_poll=on_poll)
    assert outcome.finished is True and outcome.polls == 3 and outcome.last_error is None
    assert outcome.status is not None and outcome.status.images[0].url == "u"
    assert seen == [("pending", 1), ("processing", 2), ("completed", 3)]
    assert len(calls) == 3


async def test_a_failed_task_is_finished_not_raised() -> None:
    fetch, _ = scripted(status("processing"), status("failed", error="content policy"))
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(5))
    assert outcome.finished is True
    assert outcome.status is not None and outcome.status.state == "failed" and outcome.status.error == "content policy"


async def test_running_out_of_time_returns_unfinished_with_the_last_status() -> None:
    """At the deadline polling returns unfinished with the last status, having read it until the deadline."""
    fetch, calls = scripted(status("processing"))
    started = time.monotonic()
    with anyio.fail_after(10):  # it gives up at the deadline rather than polling on
        outcome = await poll_until_done(fetch, schedule=FAST, deadline=started + 0.05)
    assert outcome.finished is False
    assert outcome.status is not None and outcome.status.state == "processing"
    assert outcome.polls == len(calls) >= 2
    assert time.monotonic() - started >= 0.05  # not before the deadline
    # It reads until the deadline, not a delay short of it (load only makes reads later, never earlier).
    assert max(calls) >= started + 0.05 - FAST.maximum


async def test_a_deadline_already_passed_still_reads_the_status_once() -> None:
    fetch, calls = scripted(status("processing"))
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=time.monotonic() - 1)
    assert (outcome.finished, outcome.polls, len(calls)) == (False, 1, 1)


async def test_fetch_first_false_waits_one_delay_before_the_first_read() -> None:
    fetch, calls = scripted(status("completed"))
    started = time.monotonic()
    outcome = await poll_until_done(
        fetch, schedule=PollSchedule(initial=0.03, maximum=0.03), deadline=within(5), fetch_first=False
    )
    assert outcome.finished and outcome.polls == 1
    assert calls[0] - started >= 0.03


async def test_fetch_first_false_with_no_time_left_makes_no_request() -> None:
    fetch, calls = scripted(status("completed"))
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=time.monotonic(), fetch_first=False)
    assert outcome == PollOutcome(status=None, finished=False, polls=0, last_error=None)
    assert calls == []


async def test_transient_errors_are_tolerated_and_polling_goes_on() -> None:
    fetch, _ = scripted(
        status("processing"),
        errors.ServerError("503", status=503),
        errors.ConnectionFailedError("dropped"),
        errors.RateLimitError("429", status=429),
        status("completed"),
    )
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(5))
    assert outcome.finished is True and outcome.polls == 5 and outcome.last_error is None


async def test_when_only_errors_come_back_the_outcome_carries_the_last_one() -> None:
    fetch, _ = scripted(errors.ServerError("still down", status=503))
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(0.03))
    assert outcome.finished is False and outcome.status is None
    assert isinstance(outcome.last_error, errors.ServerError) and outcome.polls >= 2


async def test_an_error_after_a_status_keeps_the_last_status_seen() -> None:
    fetch, _ = scripted(status("processing"), errors.ServerError("down", status=503))
    seen: list[TaskStatus | None] = []

    async def on_poll(current: TaskStatus | None, polls: int) -> None:
        seen.append(current)

    outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(0.03), on_poll=on_poll)
    assert outcome.status is not None and outcome.status.state == "processing"
    assert isinstance(outcome.last_error, errors.ServerError)
    assert all(s is not None and s.state == "processing" for s in seen)


@pytest.mark.parametrize(
    "error",
    [
        errors.AuthenticationError("bad key", status=401),
        errors.NotFoundError("no task", status=404),
        errors.ValidationError("bad id"),
    ],
)
async def test_errors_that_cannot_heal_are_raised(error: errors.RunAPIError) -> None:
    fetch, calls = scripted(status("processing"), error)
    with pytest.raises(type(error)):
        await poll_until_done(fetch, schedule=FAST, deadline=within(5))
    assert len(calls) == 2


async def test_a_status_retry_after_sets_the_next_delay() -> None:
    fetch, calls = scripted(status("processing", retry_after=0.06), status("completed"))
    await poll_until_done(fetch, schedule=FAST, deadline=within(5))
    assert calls[1] - calls[0] >= 0.06


async def test_an_error_retry_after_sets_the_next_delay() -> None:
    fetch, calls = scripted(errors.RateLimitError("slow", status=429, retry_after=0.06), status("completed"))
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(5))
    assert outcome.finished
    assert calls[1] - calls[0] >= 0.06


async def test_a_retry_after_beyond_the_deadline_ends_the_wait_at_the_deadline_without_another_read() -> None:
    fetch, _ = scripted(status("processing", retry_after=60))
    started = time.monotonic()
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=started + 0.05)
    # RunAPI asked for no read before 60 s: the call ends at its deadline, and get_task reads later.
    assert outcome.finished is False and outcome.polls == 1
    assert 0.04 <= time.monotonic() - started < 0.5


async def test_a_zero_retry_after_falls_back_to_the_schedule() -> None:
    fetch, calls = scripted(status("processing", retry_after=0), status("completed"))
    await poll_until_done(fetch, schedule=PollSchedule(initial=0.03, maximum=0.03), deadline=within(5))
    assert calls[1] - calls[0] >= 0.03


@pytest.mark.parametrize(("raw", "canonical"), sorted(_STATUS_ALIASES.items()))
async def test_every_status_alias_is_understood(raw: str, canonical: str) -> None:
    fetch, _ = scripted(status(raw), status("completed"))
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(5))
    terminal = canonical in ("completed", "failed")
    assert outcome.polls == (1 if terminal else 2)
    assert outcome.finished is True
    if terminal:
        assert outcome.status is not None and outcome.status.state == canonical


@pytest.mark.parametrize("raw", ["SUCCESS", " Completed ", "Generate_Failed"])
async def test_status_spelling_is_read_case_and_space_insensitively(raw: str) -> None:
    fetch, _ = scripted(status(raw))
    outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(5))
    assert outcome.finished and outcome.polls == 1


async def test_an_unknown_status_keeps_polling_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    fetch, _ = scripted(status("upscaling"), status("upscaling"), status("completed"))
    with caplog.at_level(logging.WARNING, logger="runapi_mcp.runapi.polling"):
        outcome = await poll_until_done(fetch, schedule=FAST, deadline=within(5))
    assert outcome.finished and outcome.polls == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "upscaling" in warnings[0].getMessage()


async def test_the_deadline_is_read_on_the_given_clock() -> None:
    ticks = itertools.count()  # the clock advances one "second" per read
    now = [0.0]
    inner, calls = scripted(status("processing"))

    async def fetch() -> TaskStatus:
        now[0] = float(next(ticks) + 1)
        return await inner()

    outcome = await poll_until_done(fetch, schedule=FAST, deadline=3, clock=lambda: now[0])
    assert outcome.finished is False
    assert len(calls) == 3  # reads at clock 0, 1, 2 leave time; after the third the budget is spent


def test_schedule_starts_quick_backs_off_and_caps() -> None:
    delays = PollSchedule(initial=2.0, factor=1.5, maximum=5.0).delays()
    assert [next(delays) for _ in range(6)] == [2.0, 3.0, 4.5, 5.0, 5.0, 5.0]


@pytest.mark.parametrize("kwargs", [{"initial": 0}, {"factor": 0.5}, {"initial": 3, "maximum": 2}])
def test_a_schedule_that_would_spin_or_shrink_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="PollSchedule"):
        PollSchedule(**kwargs)


async def test_polling_a_real_client_honours_the_status_retry_after_header(fake: Any) -> None:
    fake.reply(
        fake.json({"id": TASK, "status": "pending"}, headers={"Retry-After": "0.05"}),
        fake.json({}, status=503),
        fake.json({"id": TASK, "status": "completed", "images": [{"url": "https://cdn.test/1.png"}]}),
    )
    client = fake.client(retry=fake.fast_retry(max_retries=0))
    started = time.monotonic()
    outcome = await poll_until_done(lambda: client.get_task("text_to_image", TASK), schedule=FAST, deadline=within(5))
    assert outcome.finished and outcome.polls == 3
    assert time.monotonic() - started >= 0.05
    assert [r.url.path for r in fake.requests] == [f"/api/v1/gpt_image_2/text_to_image/{TASK}"] * 3
