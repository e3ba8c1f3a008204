"""`python -m bench.hosted`: get_task through HAProxy round-robin with 1 and 3 replicas, per journal engine.

The deployment of issue 12, on loopback: the RunAPI sandbox, `runapi-mcp --transport http --stateless`
replicas with per-request keys, and HAProxy with manifests/haproxy/haproxy.cfg (the rig of tests/deploy).
One finished task is looked up on every replica first, so the measured calls read the journal and never
download. Then `--calls` get_task calls from `--concurrency` MCP sessions through the balancer. Printed:
throughput, p50 and p99 latency, server CPU per call (utime + stime of the replicas from /proc), each also
as a ratio to the 1-replica SQLite run of the same invocation, and the image downloads from RunAPI during
the measured calls (each replica on a disk of its own, as tests/deploy runs them, where it can).
PostgreSQL runs when the journal suite's server (tests/postgres_server.py) and PostgreSQL's binaries are
there; otherwise the output says why not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from bench.common import percentile
from tests.deploy.rig import (
    STATE_KEYS,
    Replica,
    haproxy_process,
    mcp_session,
    replica_processes,
    sandbox_process,
)

KEY = "sk-bench-hosted-0001"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    engine: str
    replicas: int
    calls: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float
    errors: int
    downloads: int
    """Image downloads from RunAPI's file URLs during the measured calls (the sandbox's access log)."""

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_ms_per_call(self) -> float:
        return 1000 * self.cpu_seconds / self.calls


def _cpu_seconds(replicas: list[Replica]) -> float:
    """utime + stime of every replica process so far (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for replica in replicas:
        fields = Path(f"/proc/{replica.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@contextmanager
def _database(engine: str) -> Iterator[dict[str, str]]:
    if engine == "sqlite":
        yield {}
        return
    from tests.postgres_server import running_postgres

    with running_postgres() as server:
        yield {"RUNAPI_MCP_DATABASE_URL": server.create_database()}


def postgres_missing() -> str | None:
    """Why PostgreSQL cannot run here, or None when it can."""
    try:
        from tests.postgres_server import pg_bin_dir
    except ImportError:
        return "the PostgreSQL journal (tests/postgres_server.py) is not in this checkout"
    return None if pg_bin_dir() is not None else "PostgreSQL's server binaries are not installed"


async def _warm(url: str, replicas: list[Replica]) -> str:
    async with mcp_session(url, KEY) as session:
        made = await session.client.call_tool("generate_image", {"prompt": "a benchmark lighthouse"})
    task_id: str = (made.structured_content or {})["tasks"][0]["task_id"]
    for replica in replicas:  # each replica learns the task and saves it once, outside the measurement
        async with mcp_session(replica.url, KEY) as session:
            await session.client.call_tool("get_task", {"task_id": task_id})
    return task_id


async def _measure(url: str, task_id: str, calls: int, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    remaining = calls

    async def worker() -> None:
        nonlocal remaining, errors
        async with mcp_session(url, KEY) as session:
            await session.client.call_tool("get_task", {"task_id": task_id})  # the session's own first call
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                result = await session.client.call_tool("get_task", {"task_id": task_id})
                latencies.append(time.perf_counter() - started)
                errors += bool(result.is_error)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)
    return time.perf_counter() - started, latencies, errors


def run_once(workdir: Path, engine: str, replicas: int, calls: int, concurrency: int) -> Run:
    folder = workdir / f"{engine}-{replicas}"
    folder.mkdir(parents=True)
    with ExitStack() as stack:
        shared = stack.enter_context(_database(engine))
        sandbox = stack.enter_context(sandbox_process(folder, latency=0.3))
        names = [f"replica{i + 1}" for i in range(replicas)]
        group = stack.enter_context(
            replica_processes(
                folder,
                names,
                sandbox.url,
                stateless=True,
                RUNAPI_MCP_STATE_KEYS=STATE_KEYS,
                RUNAPI_MCP_LOG_LEVEL="WARNING",
                **shared,
            )
        )
        balancer = stack.enter_context(haproxy_process(folder, {"mcp_stateless": group}))
        url = balancer.urls["mcp"]
        task_id = anyio.run(_warm, url, group)
        cpu_before, downloads_before = _cpu_seconds(group), sandbox.downloads().total()
        seconds, latencies, errors = anyio.run(_measure, url, task_id, calls, concurrency)
        cpu = _cpu_seconds(group) - cpu_before
        downloads = sandbox.downloads().total() - downloads_before
    # Each session's first call (its tool listing and connection) is outside the count.
    return Run(engine, replicas, len(latencies), seconds, latencies, cpu, errors, downloads)


def report(runs: list[Run]) -> str:
    base = runs[0]
    lines = [
        f"{'engine':<11}{'replicas':>9}{'calls':>7}{'calls/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/call':>13}"
        f"{'errors':>8}{'downloads':>11}   ratios to {base.engine}, {base.replicas} replica: "
        "calls/s, p50, p99, CPU/call",
    ]
    for run in runs:
        p50, p99 = percentile(run.latencies, 0.5), percentile(run.latencies, 0.99)
        base50, base99 = percentile(base.latencies, 0.5), percentile(base.latencies, 0.99)
        lines.append(
            f"{run.engine:<11}{run.replicas:>9}{run.calls:>7}{run.throughput:>10.1f}{1000 * p50:>9.2f}"
            f"{1000 * p99:>9.2f}{run.cpu_ms_per_call:>13.2f}{run.errors:>8}{run.downloads:>11}   "
            f"{run.throughput / base.throughput:.2f}x  {p50 / base50:.2f}x  {p99 / base99:.2f}x  "
            f"{run.cpu_ms_per_call / base.cpu_ms_per_call:.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hosted", description=__doc__)
    parser.add_argument("--calls", type=int, default=600, help="measured get_task calls per run (default 600)")
    parser.add_argument("--concurrency", type=int, default=6, help="MCP sessions calling at once (default 6)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 30 calls, 2 sessions")
    args = parser.parse_args(argv)
    calls, concurrency = (30, 2) if args.quick else (args.calls, args.concurrency)
    engines = ["sqlite"]
    if (why := postgres_missing()) is None:
        engines.append("postgresql")
    else:
        print(f"postgresql: not run ({why})")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="runapi-mcp-bench-hosted-") as workdir:
        for engine in engines:
            for replicas in (1, 3):
                runs.append(run_once(Path(workdir) / "runs", engine, replicas, calls, concurrency))
                print(f"ran {engine} with {replicas} replica(s)", file=sys.stderr, flush=True)
    print(f"get_task through HAProxy round-robin, {concurrency} sessions, {os.cpu_count()} cores")
    print(report(runs))
    return 1 if any(run.errors for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
