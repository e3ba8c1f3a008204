"""`python -m bench.callbacks` still runs and prints a row per contender (no timing asserts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(120)


def test_the_callbacks_bench_prints_every_contender_without_errors() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNAPI")}
    args = ["--tasks", "3", "--warmup", "4", "--durations", "uniform:8-20", "--time-scale", "20"]
    run = subprocess.run(
        [sys.executable, "-m", "bench.callbacks", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    rows = {line.split("  ")[0]: line for line in run.stdout.splitlines()}
    for name in ("2 s poller", "5 s poller", "ours, learning", "ours, callbacks"):
        assert name in rows and "no results" not in rows[name], run.stdout
        assert rows[name].split()[-1] == "0", run.stdout  # no errors in the errors column
