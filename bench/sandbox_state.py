"""What saving the sandbox's account costs: the same load against the sandbox in memory (the baseline) and
saving to a state folder, in one run.

`python -m bench.sandbox_state [--tasks N] [--concurrency C] [--rounds R]` runs, per round and per mode, a
fresh sandbox on its own thread (as `runapi-mcp --sandbox` runs it: its own event loop) and N creates with
an Idempotency-Key from C concurrent clients, each followed by one status read; then N replays of those keys.
It prints the creates' throughput (median over R rounds) and the latency of creates and replays (median,
p95), each as a ratio saved / in memory, and how many saves (SQLite commits) the requests took: with C at
once, several share one commit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx2

from runapi_mcp.sandbox import SandboxConfig, SandboxThread

BODY = {"model": "gpt-image-2", "prompt": "a lighthouse"}
AUTH = {"Authorization": "Bearer bench"}


class Figures:
    def __init__(self) -> None:
        self.wall: list[float] = []
        self.latencies: list[float] = []
        self.saves: list[int] = []


async def _load(url: str, tasks: int, concurrency: int, figures: Figures, prefix: str) -> None:
    limiter = anyio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(client: httpx2.AsyncClient, index: int) -> None:
        async with limiter:
            started = time.perf_counter()
            created = await client.post(
                "/api/v1/gpt_image_2/text_to_image", json=BODY, headers={"Idempotency-Key": f"{prefix}-{index}"}
            )
            latencies.append(time.perf_counter() - started)
            assert created.status_code == 200, created.text
            await client.get(f"/api/v1/gpt_image_2/text_to_image/{created.json()['id']}")

    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(base_url=url, headers=AUTH, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for index in range(tasks):
                group.start_soon(one, client, index)
        figures.wall.append(time.perf_counter() - started)
        async with anyio.create_task_group() as group:  # replays: answered from memory, nothing new to save
            for index in range(tasks):
                group.start_soon(one, client, index)
    figures.latencies.extend(latencies)


def _round(tasks: int, concurrency: int, state_dir: Path | None, figures: Figures, prefix: str) -> None:
    config = SandboxConfig(latency=0.5, balance_cents=10**9)
    with SandboxThread(config, state_dir=state_dir) as sandbox:
        anyio.run(_load, sandbox.url, tasks, concurrency, figures, prefix)
        if state_dir is not None:
            figures.saves.append(sandbox.state.changes.saves)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_state", description=__doc__)
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    memory, saved = Figures(), Figures()
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.rounds):
            _round(args.tasks, args.concurrency, None, memory, f"m{round_index}")
            _round(args.tasks, args.concurrency, Path(folder) / f"r{round_index}", saved, f"s{round_index}")
    throughput = statistics.median(memory.wall) / statistics.median(saved.wall)
    median = statistics.median(saved.latencies) / statistics.median(memory.latencies)
    p95 = _percentile(saved.latencies, 0.95) / _percentile(memory.latencies, 0.95)
    print(f"sandbox, {args.tasks} creates x {args.rounds} rounds at concurrency {args.concurrency}:")
    print(f"  create throughput, saved / in memory: {throughput:.2f}x")
    print(f"  create and replay latency, saved / in memory: median {median:.2f}x, p95 {p95:.2f}x")
    per_commit = 2 * args.tasks / statistics.median(saved.saves)
    print(
        f"  saves: median {statistics.median(saved.saves):.0f} commits for {2 * args.tasks} requests "
        f"({per_commit:.1f} requests per commit; replays change only a key's counters)"
    )


if __name__ == "__main__":
    main()
