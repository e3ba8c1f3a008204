"""Polling that learns (issue 13 item 3): where reads go with and without a forecast, and the floor."""

from __future__ import annotations

import itertools
import random

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


def test_with_a_forecast_the_first_read_waits_until_just_before_the_earliest_finish_seen() -> None:
    clock = [0.0]
    plan = ReadPlan(SCHEDULE, Forecast.of([20.0, 25.0, 30.0, 40.0]), age=lambda: clock[0])
    first = plan.next_delay(None)
    assert 15.0 <= first <= 20.0


def test_a_forecast_keeps_its_reads_between_the_floor_and_the_maximum_apart() -> None:
    times = Forecast.of([20.0, 25.0, 30.0, 40.0, 41.0, 90.0]).read_times(SCHEDULE.floor, SCHEDULE.maximum)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps and min(gaps) >= SCHEDULE.floor - 1e-9 and max(gaps) <= SCHEDULE.maximum + 1e-9
    assert times[-1] >= 90.0  # planned past the latest finish seen


def test_reads_are_densest_where_finishes_are_likely() -> None:
    rng = random.Random(3)
    history = [rng.gauss(30.0, 3.0) for _ in range(60)]
    times = Forecast.of(history).read_times(SCHEDULE.floor, SCHEDULE.maximum)
    near = sum(1 for t in times if 27.0 <= t <= 33.0)
    tail = sum(1 for t in times if 37.0 <= t <= 43.0)
    assert near > tail


def test_past_the_latest_finish_seen_reads_back_off_to_the_maximum() -> None:
    clock = [100.0]
    plan = ReadPlan(SCHEDULE, Forecast.of([20.0, 25.0, 30.0]), age=lambda: clock[0])
    delays = [plan.next_delay(None) for _ in range(4)]
    assert delays == sorted(delays) and delays[-1] == SCHEDULE.maximum


def test_too_few_finished_tasks_make_no_forecast() -> None:
    assert not Forecast.of([10.0, 20.0]).usable
    assert Forecast.of([10.0, 20.0, 30.0]).usable


def test_over_one_wide_spread_the_forecast_reads_a_third_less_than_a_2_s_poller_within_1_5_s() -> None:
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
    assert ours_reads < 0.7 * fixed_reads
    assert ours_delay / len(tasks) < 1.5 and fixed_delay / len(tasks) < 1.0


def test_where_the_kind_of_task_narrows_the_spread_about_half_the_reads_of_a_2_s_poller_find_it_within_a_second() -> (
    None
):
    """A tiered spread (each resolution its own band of 8-60 s, learned apart), simulated without network or
    server overheads; python -m bench.callbacks measures the same through the server."""
    from runapi_mcp.sandbox.durations import parse_spread

    spread, rng = parse_spread("tiered:8-60"), random.Random(11)
    ours_reads = ours_delay = fixed_reads = 0.0
    n = 0
    for resolution in ("1k", "2k", "4k"):
        forecast = Forecast.of([spread.draw(rng, resolution) for _ in range(20)])
        for _ in range(100):
            finish, clock = spread.draw(rng, resolution), [0.0]
            reads, delay = reads_until(ReadPlan(SCHEDULE, forecast, age=lambda c=clock: c[0]), clock, finish)
            ours_reads, ours_delay, n = ours_reads + reads, ours_delay + delay, n + 1
            fixed_reads += int(finish // 2.0) + 2
    assert ours_reads <= 0.55 * fixed_reads
    assert ours_delay / n <= 1.0
