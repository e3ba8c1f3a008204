"""4. Concurrency: many generate_image calls at once on one streamable HTTP server.

The server runs in its own process (bench.http_server: what `runapi-mcp --transport http` builds, plus
a monitor task in its event loop that sleeps 10 ms at a time and records how late it wakes). The
sandbox, in another process, takes 2 s per task. "Ideal" is the wall time of one call alone on the same
server, measured just before: the burst should cost little more than a single call. Peak RSS is the
server process's VmHWM over its whole life; the stall window is the burst.
"""

from __future__ import annotations

import os
import time
from typing import Any

import anyio
import httpx2
from mcp import Client

from bench.common import REPO, Row, RunConfig, Section, child_process, default_schedule, median, server_env

LATENCY = 2.0
MAX_RATIO = 1.5
MAX_RSS_BYTES = 250_000_000
MAX_STALL_MS = 100.0
PROMPT = "a bowl of lemons on a blue table, still life"


async def _one(client: Client, key: str) -> None:
    async def progress(progress: float, total: float | None, message: str | None) -> None:
        pass

    result = await client.call_tool(
        "generate_image", {"prompt": PROMPT, "idempotency_key": key}, progress_callback=progress
    )
    tasks = (result.structured_content or {}).get("tasks", [])
    if result.is_error or [t.get("status") for t in tasks] != ["completed"]:
        raise RuntimeError(f"a concurrent generate_image did not complete: {tasks}")


async def run(cfg: RunConfig) -> Section:
    section = Section()
    calls, singles = (4, 1) if cfg.quick else (64, 3)
    logs = cfg.folder("concurrency")
    sandbox_args = ["-m", "bench.sandbox_proc", "--latency", str(LATENCY)]
    async with child_process(sandbox_args, env=None, cwd=REPO, log=logs / "sandbox.log") as sandbox:
        env = server_env(cfg, "concurrency", sandbox.url, RUNAPI_MCP_WAIT_SECONDS="60")
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
        async with (
            child_process(
                ["-m", "bench.http_server"],
                env=env,
                cwd=cfg.folder("concurrency/project"),
                log=logs / "http-server.log",
            ) as server,
            Client(server.url) as client,
            httpx2.AsyncClient(timeout=30) as http,
        ):
            stats_url = server.url.removesuffix("/mcp") + "/_bench"
            alone: list[float] = []
            for i in range(singles):
                start = time.perf_counter()
                with anyio.fail_after(60):
                    await _one(client, f"bench-single-{i}-{time.time_ns()}")
                alone.append(time.perf_counter() - start)
            await http.post(stats_url + "/reset")
            wall_start = time.time()
            start = time.perf_counter()
            with anyio.fail_after(120):  # bounded: a stuck call fails the run instead of hanging it
                async with anyio.create_task_group() as tg:
                    for i in range(calls):
                        tg.start_soon(_one, client, f"bench-burst-{i}-{time.time_ns()}")
            wall = time.perf_counter() - start
            stats = (await http.get(stats_url + "/stats")).json()
            tasks = (await http.get(sandbox.url + "/_bench/tasks")).json()
    timeline = _timeline(tasks, wall_start)
    ideal = median(alone)
    ratio = wall / ideal
    rss = int(stats["peak_rss_bytes"])
    stall = float(stats["max_stall_ms"])
    section.rows.extend(
        [
            Row(
                "4. concurrent generate_image calls, wall time",
                f"{calls} calls in {wall:.2f} s",
                f"one call alone {ideal:.2f} s (sandbox {LATENCY:g} s)",
                f"{ratio:.2f}x (≤ {MAX_RATIO})",
                ratio <= MAX_RATIO,
            ),
            Row(
                "4. HTTP server peak RSS",
                f"{rss / 1e6:.0f} MB",
                "",
                f"< {MAX_RSS_BYTES / 1e6:.0f} MB",
                rss < MAX_RSS_BYTES,
            ),
            Row(
                "4. worst event-loop stall during the burst",
                f"{stall:.1f} ms",
                "",
                f"≤ {MAX_STALL_MS:g} ms",
                stall <= MAX_STALL_MS,
                f"five worst: {', '.join(f'{w:.1f}' for w in stats['worst_ms'])} ms",
            ),
        ]
    )
    section.notes.append(
        f"4. One MCP client session, {calls} calls started together (each with a progress token, as hosts send), "
        f"distinct idempotency keys, the same prompt (the sandbox renders it once, as a CDN would serve it). "
        f"Server defaults ({default_schedule()}, previews 512 px, structured output). Ideal: median of {singles} lone "
        f"call(s). Stalls: {stats['ticks']} monitor ticks in the burst, {stats['stalls_over_100ms']} over 100 ms. "
        "RSS: the server process's VmHWM (peak resident set), read inside it. Burst timeline (seconds from the "
        f"start): {timeline}."
    )
    return section


def _timeline(tasks: dict[str, Any], start: float) -> str:
    """Where the burst's time went, from the sandbox's log: creates, the reads that saw `completed`."""
    burst = [info for info in tasks.values() if str(info["key"]).startswith("bench-burst-")]
    if not burst:
        return "no tasks seen"
    created = sorted(info["created_at"] - start for info in burst)
    seen = sorted(
        min((t for t in info["status_reads"] if t >= info["done_at"]), default=float("nan")) - start for info in burst
    )
    reads = sum(len(info["status_reads"]) for info in burst)
    return (
        f"creates {created[0]:.2f}..{created[-1]:.2f}, completed seen {seen[0]:.2f}..{seen[-1]:.2f}, "
        f"{reads} status reads for {len(burst)} tasks"
    )
