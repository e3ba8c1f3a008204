"""Callbacks and polling that learns, against RunAPI's fixed pollers, over a realistic spread of durations.

    python -m bench.callbacks [--tasks N] [--warmup N] [--durations tiered:8-60] [--time-scale K] [--seed S]

Tasks cycle through the three output resolutions (1k, 2k, 4k, all 16:9). With the default spread,
`tiered:8-60`, the resolution drives the duration (each its own band of 8-60 s) and the learning server
learns each resolution apart, as the journal does; `--durations lognormal:8-60` gives every task the
same wide spread, where nothing tells one task's duration from another's.

Four contenders run at once, each on its own in-process sandbox started with the same seed and spread, so
each sees the same task durations and its sandbox counts only its own status reads:
- "2 s poller": RunAPI's official SDK's loop (read at once after the create, then every 2 s);
- "5 s poller": RunAPI's own MCP server's loop (the same, every 5 s);
- "ours, learning": generate_image through this server's flow over an in-memory MCP client (what stdio
  runs), after a warm-up of `--warmup` tasks that filled the journal's durations;
- "ours, callbacks": generate_image over streamable HTTP with RUNAPI_MCP_PUBLIC_URL set; the sandbox POSTs
  each task's callback to the server's /callbacks/<token>.

delay: wall time when the caller holds the result (our tool call returned, image saved; a poller read
`completed`) minus the wall time the sandbox finished the task. reads: status reads per task. With
`--time-scale K` the sandbox runs K times faster and every schedule is divided by K; delays are then shown
multiplied by K (sandbox seconds), which also multiplies fixed costs (downloads, round trips) by K: run at
K = 1 (the default) for figures that compare with the issue's targets.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.common import Row, RunConfig, Section
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.sandbox.durations import parse_spread
from runapi_mcp.server import build_server
from runapi_mcp.server.http import running_http
from runapi_mcp.settings import Settings

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
RESOLUTIONS = ("1k", "2k", "4k")
CREATE = "/api/v1/gpt_image_2/text_to_image"
KEY = "bench-key"


@dataclass
class Tally:
    delays: list[float] = field(default_factory=list[float])
    errors: list[str] = field(default_factory=list[str])
    reads: int = 0
    early_reads: int = 0  # of `reads`, those answered before the task finished

    def row(self, name: str, tasks: int, scale: float) -> str:
        if not self.delays:
            return f"{name:<18} no results ({'; '.join(self.errors[:3])})"
        d = [x * scale for x in self.delays]
        return (
            f"{name:<18} {self.reads / tasks:7.2f} {statistics.median(d):8.2f} {statistics.fmean(d):8.2f} "
            f"{max(d):8.2f} {len(self.errors):6d}"
        )


def done_wall(sandbox: RunningSandbox, task_id: str) -> float:
    task = sandbox.state.tasks[task_id]
    return sandbox.state.clock.to_wall(task.done_at)


def arguments(index: int) -> dict[str, str]:
    return {"prompt": PROMPT, "aspect_ratio": "16:9", "output_resolution": RESOLUTIONS[index % len(RESOLUTIONS)]}


async def fixed_poller(
    http: httpx2.AsyncClient, sandbox: RunningSandbox, interval: float, tally: Tally, index: int
) -> None:
    body = {"model": "gpt-image-2", **arguments(index)}
    created = await http.post(CREATE, json=body, headers={"Idempotency-Key": f"fixed-{index}-{time.time_ns()}"})
    created.raise_for_status()
    task_id = created.json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = (await http.get(f"{CREATE}/{task_id}")).json()["status"]
        if status in ("completed", "failed"):
            tally.delays.append(time.time() - done_wall(sandbox, task_id))
            return
        await anyio.sleep(interval)
    tally.errors.append("poller gave up")


async def ours(client: Client, sandbox: RunningSandbox, tally: Tally | None, index: int) -> None:
    result = await client.call_tool("generate_image", arguments(index))
    held = time.time()
    tasks = (result.structured_content or {}).get("tasks", [])
    if result.is_error or [t.get("status") for t in tasks] != ["completed"]:
        if tally is not None:
            tally.errors.append(f"tool returned {[t.get('status') for t in tasks] or 'an error'}")
        return
    if tally is not None:
        tally.delays.append(held - done_wall(sandbox, tasks[0]["task_id"]))


def server_settings(state: Path, work: Path, sandbox: RunningSandbox, scale: float, **extra: str) -> Settings:
    env = {
        "HOME": str(state / "home"),
        "RUNAPI_BASE_URL": sandbox.url,
        "RUNAPI_API_KEY": KEY,
        "RUNAPI_MCP_STATE_DIR": str(state),
        "RUNAPI_MCP_WAIT_SECONDS": f"{min(600, 120 / scale):g}",
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": f"{3 / scale:g}",
        "RUNAPI_MCP_POLL_MAX_SECONDS": f"{5 / scale:g}",
        "RUNAPI_MCP_POLL_FLOOR_SECONDS": f"{0.5 / scale:g}",
        "RUNAPI_MCP_PREVIEW": "off",
        **extra,
    }
    return Settings.load(env=env, working_dir=work)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def http_client(url: str) -> AsyncIterator[Client]:
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=700)))
        transport = streamable_http_client(f"{url}/mcp", http_client=http)
        yield await stack.enter_async_context(Client(transport, read_timeout_seconds=700))


async def all_at_once(jobs: list[tuple[Tally | None, Callable[[], Awaitable[None]]]]) -> None:
    async def one(tally: Tally | None, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except Exception as exc:  # a contender's failure is counted in its row, not the end of the run
            if tally is not None:
                tally.errors.append(f"{type(exc).__name__}: {exc}"[:120])

    async with anyio.create_task_group() as group:
        for tally, job in jobs:
            group.start_soon(one, tally, job)


CONTENDERS = ("2 s poller", "5 s poller", "ours, learning", "ours, callbacks")
MAX_LEARNING_READ_RATIO = 0.5
MAX_LEARNING_MEAN_DELAY = 1.0
MAX_CALLBACK_MEDIAN_DELAY = 0.2
MAX_CALLBACK_READS_AFTER_DONE = 1.0


@dataclass
class Measured:
    tallies: dict[str, Tally]
    tasks: int
    spread: str
    elapsed: float


async def measure(args: argparse.Namespace, say: Callable[[str], None] = print) -> Measured:
    for name in ("httpx", "httpx2", "mcp", "runapi_mcp"):
        logging.getLogger(name).setLevel(logging.WARNING)
    spread, scale, n = parse_spread(args.durations), args.time_scale, args.tasks

    def config() -> SandboxConfig:
        return SandboxConfig(task_durations=spread, time_scale=scale, seed=args.seed, balance_cents=10**9)

    tallies = {name: Tally() for name in CONTENDERS}
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
        root = Path(tmp)
        for name in ("learning", "callbacks"):
            (root / name / "work").mkdir(parents=True)
        async with AsyncExitStack() as stack:
            boxes = [await stack.enter_async_context(running_sandbox(config())) for _ in range(4)]
            learn_box = await stack.enter_async_context(running_sandbox(config()))
            learner = server_settings(root / "learning" / "state", root / "learning" / "work", learn_box, scale)
            learning = await stack.enter_async_context(Client(build_server(learner)))
            started = time.monotonic()
            await all_at_once([(None, lambda i=i: ours(learning, learn_box, None, i)) for i in range(args.warmup)])
            say(f"warm-up: {args.warmup} tasks in {time.monotonic() - started:.0f} s; measuring {n} per contender")
            # The learning server reads the measured tasks from its own fresh sandbox from here on.
            measured = server_settings(root / "learning" / "state", root / "learning" / "work", boxes[2], scale)
            learning = await stack.enter_async_context(Client(build_server(measured)))
            port = free_port()
            hosted = server_settings(
                root / "callbacks" / "state",
                root / "callbacks" / "work",
                boxes[3],
                scale,
                RUNAPI_MCP_PUBLIC_URL=f"http://127.0.0.1:{port}",
            ).model_copy(update={"transport": "http"})
            url = await stack.enter_async_context(running_http(build_server(hosted), hosted, port=port))
            calling = await stack.enter_async_context(http_client(url))
            pollers = [
                await stack.enter_async_context(
                    httpx2.AsyncClient(
                        base_url=box.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=httpx2.Timeout(60)
                    )
                )
                for box in boxes[:2]
            ]
            jobs: list[tuple[Tally | None, Callable[[], Awaitable[None]]]] = []
            two, five, learned, called = tallies.values()
            for i in range(n):
                jobs.append((two, lambda i=i: fixed_poller(pollers[0], boxes[0], 2 / scale, two, i)))
                jobs.append((five, lambda i=i: fixed_poller(pollers[1], boxes[1], 5 / scale, five, i)))
                jobs.append((learned, lambda i=i: ours(learning, boxes[2], learned, i)))
                jobs.append((called, lambda i=i: ours(calling, boxes[3], called, i)))
            started = time.monotonic()
            await all_at_once(jobs)
            elapsed = time.monotonic() - started
            for tally, box in zip(tallies.values(), boxes, strict=True):
                tally.reads = sum(task.status_reads for task in box.state.tasks.values())
                tally.early_reads = sum(task.early_reads for task in box.state.tasks.values())
    return Measured(tallies, n, str(spread), elapsed)


async def main(args: argparse.Namespace) -> None:
    result = await measure(args)
    tallies, n, scale = result.tallies, result.tasks, args.time_scale
    print(
        f"{n} tasks per contender, durations {result.spread}, time scale {scale:g}, seed {args.seed}; "
        f"{result.elapsed:.0f} s"
    )
    unit = "s" if scale == 1 else f"sandbox s (wall x {scale:g})"
    print(f"{'contender':<18} {'reads':>7} {'median':>8} {'mean':>8} {'max':>8} {'errors':>6}   delay in {unit}")
    for name, tally in tallies.items():
        print(tally.row(name, n, scale))
    for name, tally in tallies.items():
        if tally.errors:
            print(f"{name} errors: {'; '.join(sorted(set(tally.errors))[:3])}")
    base = tallies["2 s poller"]
    for name in ("ours, learning", "ours, callbacks"):
        tally = tallies[name]
        if tally.delays and base.reads:
            print(f"{name}: {tally.reads / base.reads:.2f}x the 2 s poller's reads")
    called = tallies["ours, callbacks"]
    print(
        f"ours, callbacks: {(called.reads - called.early_reads) / n:.2f} reads per task after done, "
        f"{called.early_reads / n:.2f} safety-net reads before"
    )


async def run(config: RunConfig) -> Section:
    """Section 7 of `python -m bench`: the tiered spread (the headline), then one wide spread for all kinds."""
    section = Section()
    quick = (
        ["--tasks", "6", "--warmup", "6", "--time-scale", "20"] if config.quick else ["--tasks", "30", "--warmup", "30"]
    )
    for spread, alternative in (("tiered:8-60", False), ("lognormal:8-60", True)):
        args = parse([*quick, "--durations", spread])
        result = await measure(args, say=lambda _: None)
        section.rows.extend(_rows(result, args.time_scale, alternative))
    section.notes.append(
        "7: python -m bench.callbacks --tasks 30 --warmup 30 (and --durations lognormal:8-60). Four contenders at "
        "once, each on its own in-process sandbox with the same seed and spread; tasks cycle 1k, 2k, 4k. The "
        "learning server first runs the warm-up tasks to fill its journal's durations. delay: when the caller "
        "holds the result minus when the sandbox finished the task; reads: status reads the sandbox answered."
    )
    return section


def _rows(result: Measured, scale: float, alternative: bool) -> list[Row]:
    t = result.tallies
    two, five, learned, called = (t[name] for name in CONTENDERS)
    n = result.tasks
    tag = f"{'(alternative: one spread for every kind) ' if alternative else ''}{result.spread}"
    if not (two.delays and five.delays and learned.delays and called.delays) or not two.reads:
        errors = "; ".join(sorted({e for tally in t.values() for e in tally.errors})[:3])
        return [Row(f"7. {tag}", "no result", "-", "-", False, errors)]

    def mean(tally: Tally) -> float:
        return statistics.fmean(tally.delays) * scale

    def mid(tally: Tally) -> float:
        return statistics.median(tally.delays) * scale

    ratio = learned.reads / two.reads
    rows = [
        Row(
            f"7. {tag}: status reads per task, polling that learns (stdio)",
            f"{learned.reads / n:.1f}",
            f"2 s: {two.reads / n:.1f} · 5 s: {five.reads / n:.1f}",
            f"{ratio:.2f}x of 2 s (≤ {MAX_LEARNING_READ_RATIO})",
            ratio <= MAX_LEARNING_READ_RATIO,
            alternative=alternative,
        ),
        Row(
            f"7. {tag}: delay done → result, polling that learns (stdio), mean",
            f"{mean(learned):.2f} s (median {mid(learned):.2f})",
            f"2 s: {mean(two):.2f} s · 5 s: {mean(five):.2f} s",
            f"≤ {MAX_LEARNING_MEAN_DELAY} s",
            mean(learned) <= MAX_LEARNING_MEAN_DELAY,
            alternative=alternative,
        ),
    ]
    if alternative:
        return rows
    after = (called.reads - called.early_reads) / n
    return [
        *rows,
        Row(
            f"7. {tag}: delay done → result, callbacks (HTTP), median",
            f"{mid(called):.3f} s (max {max(called.delays) * scale:.2f})",
            f"2 s: {mid(two):.2f} s · 5 s: {mid(five):.2f} s",
            f"≤ {MAX_CALLBACK_MEDIAN_DELAY} s",
            mid(called) <= MAX_CALLBACK_MEDIAN_DELAY,
        ),
        Row(
            f"7. {tag}: status reads per task after done, callbacks (HTTP)",
            f"{after:.2f} (+{called.early_reads / n:.2f} safety-net reads before)",
            f"2 s: {two.reads / n:.1f} in all",
            f"≤ {MAX_CALLBACK_READS_AFTER_DONE:g}",
            after <= MAX_CALLBACK_READS_AFTER_DONE,
        ),
    ]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.callbacks", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20, help="tasks per contender (default 20)")
    parser.add_argument("--warmup", type=int, default=20, help="tasks the learning server sees first (default 20)")
    parser.add_argument("--durations", default="tiered:8-60", help="the sandbox's spread (default tiered:8-60)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="sandbox clock speed-up (default 1)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    if not 1 <= args.tasks <= 200 or not 0 <= args.warmup <= 200 or not 1 <= args.time_scale <= 100:
        parser.error("--tasks 1-200, --warmup 0-200 and --time-scale 1-100")
    return args


if __name__ == "__main__":
    anyio.run(main, parse())
