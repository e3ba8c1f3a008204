"""`python -m bench.hosted --quick` still runs end to end and prints a row per engine and replica count."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.rig import haproxy_binary

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.timeout(170),
    pytest.mark.skipif(
        haproxy_binary() is None and os.environ.get("CI") != "true",
        reason="needs HAProxy (apt-get install -y haproxy; CI installs it)",
    ),
]


def test_quick_hosted_bench_prints_one_and_three_replica_rows_with_ratios() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNAPI")}
    run = subprocess.run(
        [sys.executable, "-m", "bench.hosted", "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=160,
        check=False,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    rows = re.findall(r"^(sqlite|postgresql)\s+([13])\s+30\s.*\dx$", run.stdout, re.MULTILINE)
    assert ("sqlite", "1") in rows and ("sqlite", "3") in rows, run.stdout
    assert "1.00x  1.00x  1.00x  1.00x" in run.stdout  # the baseline row, measured in the same run
