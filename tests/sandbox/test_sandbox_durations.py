"""Realistic task durations: drawn from a spread, and a time scale that compresses them consistently."""

from __future__ import annotations

import json
import random
import statistics
import time

import pytest

from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from runapi_mcp.sandbox.durations import DurationSpread, parse_spread
from tests.sandbox.helpers import BODY, T2I, client_for, create, wait_done
from tests.sandbox.receiver import running_receiver

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.mark.parametrize("kind", ["uniform", "lognormal"])
def test_spreads_stay_in_range_and_differ_in_shape(kind: str) -> None:
    spread = parse_spread(f"{kind}:8-60")
    draws = [spread.draw(random.Random(i)) for i in range(400)]
    assert all(8 <= d <= 60 for d in draws)
    assert max(draws) - min(draws) > 30
    median = statistics.median(draws)
    # uniform: median near the middle (34 s); lognormal: near the geometric mean (about 22 s)
    assert (28 < median < 40) if kind == "uniform" else (17 < median < 27)


@pytest.mark.parametrize("text", ["8-60", "uniform:60-8", "normal:8-60", "uniform:0-5", "lognormal:8"])
def test_bad_spreads_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="LOW"):
        parse_spread(text)


async def test_durations_are_drawn_per_task_reproducibly_and_leave_the_fault_dice_alone() -> None:
    spread = DurationSpread("uniform", 8, 60)
    runs: list[list[float]] = []
    for _ in range(2):
        async with running_sandbox(SandboxConfig(seed=4, task_durations=spread)) as sandbox:
            async with client_for(sandbox) as client:
                ids = [(await create(client, {**BODY, "prompt": f"p{i}"})).json()["id"] for i in range(8)]
            runs.append([sandbox.state.tasks[i].done_at - sandbox.state.tasks[i].created_at for i in ids])
    assert runs[0] == pytest.approx(runs[1]) and all(8 <= d <= 60 for d in runs[0]) and len(set(runs[0])) == 8
    with_spread = SandboxConfig(seed=4, task_durations=spread, fail_task_rate=0.5)
    without = SandboxConfig(seed=4, fail_task_rate=0.5)
    fates: list[list[bool]] = []
    for config in (with_spread, without):
        async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
            ids = [(await create(client, {**BODY, "prompt": f"p{i}"})).json()["id"] for i in range(8)]
            fates.append([sandbox.state.tasks[i].failure is not None for i in ids])
    assert fates[0] == fates[1]


async def test_a_time_scale_runs_a_60_s_task_in_a_fraction_of_the_wall_time() -> None:
    config = SandboxConfig(latency=60, time_scale=60, status_retry_after=6)
    async with running_sandbox(config) as sandbox, client_for(sandbox) as client:
        started = time.monotonic()
        task_id = (await create(client)).json()["id"]
        first = await client.get(f"{T2I}/{task_id}")
        assert first.json()["status"] == "pending"
        assert first.headers["retry-after"] == "0.1"  # 6 sandbox seconds are 0.1 wall seconds
        done = await wait_done(client, task_id, limit=10)
        assert done["status"] == "completed"
        assert time.monotonic() - started >= 1.0  # 60 s at 60x: never sooner than one wall second
        task = sandbox.state.tasks[task_id]
        assert task.done_at - task.created_at == pytest.approx(60)


async def test_a_compressed_task_calls_back_on_the_compressed_clock() -> None:
    config = SandboxConfig(latency=30, time_scale=30)
    async with running_receiver() as receiver, running_sandbox(config) as sandbox, client_for(sandbox) as client:
        started = time.monotonic()
        await create(client, {**BODY, "callback_url": receiver.url})
        (delivery,) = await receiver.wait_for(1, limit=10)  # no status reads: the background loop finishes it
        assert delivery.at - started >= 1.0
        assert json.loads(delivery.body)["status"] == "completed"


def test_time_scale_must_be_positive() -> None:
    for scale in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="time_scale"):
            SandboxConfig(time_scale=scale)
