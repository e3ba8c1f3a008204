"""A short fault soak in CI (the full run is `python -m bench.soak`): no double charge, no lost task."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import SCRIPTS, SoakConfig, run_soak

pytestmark = pytest.mark.anyio


async def test_short_fault_soak_charges_each_request_once_and_loses_no_task(tmp_path: Path) -> None:
    """Under every injected fault kind, each request is charged at most once and every created task is accounted for."""
    report = await run_soak(SoakConfig(calls=36, concurrency=8, timeout=60), tmp_path)
    print(report.summary())  # shown with -s, and in the failure report
    assert report.problems() == [], report.summary()
    assert report.double_charges == 0 and report.lost_tasks == 0
    assert report.tasks == report.requests == 36
    assert report.generate_calls >= 36 and report.other == 0
    # Every fault kind really happened, and every recovery path was taken.
    for kind in ("429 (Retry-After seconds)", "429 (Retry-After date)", "5xx", "drop", "lost-response"):
        assert report.faults[kind] >= 1, kind
    assert report.failed == report.failed_not_billed == report.refunded_tasks >= 1
    assert report.key_and_next >= 1 and report.task_and_next >= 1 and report.replays >= 2
    assert report.completed + report.failed == 36 and report.completed == report.charged_tasks
    assert len(SCRIPTS) < 36  # the dice-driven part is not empty
