"""Polling that learns (issue 13 item 3): where reads go with and without a forecast, and the floor."""

from __future__ import annotations

import random

import pytest

from runapi_mcp.runapi.polling import Forecast, PollSchedule, ReadPlan

SCHEDULE = PollSchedule(initial=2.0, factor=1.5, maximum=5.0, floor=0.5)


def reads_until(plan: ReadPlan, clock: list[float], finish: float) -> tuple[int, float]:
    """Reads a plan makes for a task finishing at `finish` (its first read after one delay), and the delay."""
    reads = 0
    while True:
        clock[0] += plan.next_delay(None)
        reads += 1
        if clock[0] >= finish:
            return reads, clock[0] - finish


def test_without_a_forecast_the_fixed_schedule_is_used() -> None:
    plan = ReadPlan(SCHEDULE)
    assert [round(plan.next_delay(None), 3) for _ in range(5)] == [2.0, 3.0, 4.5, 5.0, 5.0]


def test_a_tiny_retry_after_is_raised_to_the_floor_and_a_long_one_is_honoured() -> None:
    plan = ReadPlan(SCHEDULE)
    assert plan.next_delay(0.001) == 0.5
    assert plan.next_delay(12.0) == 12.0


def test_with_a_forecast_the_first_read_waits_for_the_earliest_finish_seen() -> None:
    clock = [0.0]
    plan = ReadPlan(SCHEDULE, Forecast.of([20.0, 25.0, 30.0, 40.0]), age=lambda: clock[0])
    assert plan.next_delay(None) == pytest.approx(20.0 * 0.95)  # a little before it


def test_past_the_latest_finish_seen_reads_back_off_to_the_maximum() -> None:
    clock = [100.0]
    plan = ReadPlan(SCHEDULE, Forecast.of([20.0, 25.0, 30.0]), age=lambda: clock[0])
    delays = [plan.next_delay(None) for _ in range(4)]
    assert delays == sorted(delays) and delays[-1] == SCHEDULE.maximum


def test_too_few_finished_tasks_make_no_forecast() -> None:
    assert not Forecast.of([10.0, 20.0]).usable
    assert Forecast.of([10.0, 20.0, 30.0]).usable


def test_over_a_spread_of_durations_the_forecast_reads_less_than_a_2_s_poller_at_a_similar_delay() -> None:
    rng = random.Random(7)
    history = [rng.uniform(8, 60) for _ in range(100)]
    tasks = [rng.uniform(8, 60) for _ in range(200)]
    ours_reads = ours_delay = fixed_reads = fixed_delay = 0.0
    for finish in tasks:
        clock = [0.0]
        plan = ReadPlan(SCHEDULE, Forecast.of(history), age=lambda c=clock: c[0])
        reads, delay = reads_until(plan, clock, finish)
        ours_reads, ours_delay = ours_reads + reads, ours_delay + delay
        fixed = int(finish // 2.0) + 2  # the SDK's loop: a read at once, then every 2 s
        fixed_reads, fixed_delay = fixed_reads + fixed, fixed_delay + (2.0 * (fixed - 1) - finish)
    assert ours_reads < 0.85 * fixed_reads
    assert ours_delay / len(tasks) <= 1.2 * fixed_delay / len(tasks) + 0.2
