"""Our streamable HTTP server, as `runapi-mcp --transport http` builds it, with an event-loop monitor.

`python -m bench.http_server` reads its settings from the environment like the CLI does, serves /mcp on
127.0.0.1 (a free port), prints `URL <url>/mcp` and stops when its stdin closes. In the same event loop
a monitor sleeps 10 ms at a time and records how late it wakes: blocking work on the loop (Pillow,
SQLite, a slow import) shows up as a late wake-up, and so does the loop thread waiting for the GIL while
worker threads hold it. `GET /_bench/stats` answers the worst stalls and the process's peak RSS;
`POST /_bench/reset` starts a fresh measurement window. Bench-only code: nothing of it is in the package.

Two knobs for looking into a figure (off unless set): BENCH_DIAGNOSE=1 prints the loop thread's stack to
stderr whenever it is 50 ms late; BENCH_THREADS=N sizes anyio's default worker-thread pool (40).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.proc import listen, send_json, serve_and_announce
from runapi_mcp.server import build_server
from runapi_mcp.server.http import build_http_app
from runapi_mcp.settings import Settings

TICK = 0.010


class StallMonitor:
    def __init__(self) -> None:
        self.reset()

    heartbeat = 0.0

    def reset(self) -> None:
        self.ticks = 0
        self.worst: list[float] = []  # the five largest overshoots, seconds
        self.over_100ms = 0

    def record(self, late: float) -> None:
        self.ticks += 1
        if late > 0.1:
            self.over_100ms += 1
        if len(self.worst) < 5 or late > self.worst[-1]:
            self.worst = sorted([*self.worst, late], reverse=True)[:5]

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            self.heartbeat = start
            await asyncio.sleep(TICK)
            self.record(max(0.0, time.perf_counter() - start - TICK))

    def stats(self) -> dict[str, Any]:
        return {
            "ticks": self.ticks,
            "max_stall_ms": round(self.worst[0] * 1000, 2) if self.worst else 0.0,
            "worst_ms": [round(w * 1000, 2) for w in self.worst],
            "stalls_over_100ms": self.over_100ms,
            "peak_rss_bytes": peak_rss_bytes(),
        }


def peak_rss_bytes() -> int:
    """The process's peak resident set: VmHWM on Linux, ru_maxrss elsewhere (KiB on Linux, bytes on macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class BenchRoutes:
    def __init__(self, app: ASGIApp, monitor: StallMonitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_bench/"):
            if scope["path"] == "/_bench/reset":
                self.monitor.reset()
            data = json.dumps(self.monitor.stats()).encode()
            await send_json(send, data)
            return
        await self.app(scope, receive, send)


def diagnose(monitor: StallMonitor, loop_thread: int) -> None:
    """With BENCH_DIAGNOSE=1: print the event loop's stack whenever it is 50 ms late (to find what blocks it)."""
    import traceback

    def watch() -> None:
        reported = 0.0
        while True:
            time.sleep(0.005)
            beat = monitor.heartbeat
            if beat and beat != reported and time.perf_counter() - beat > TICK + 0.05:
                reported = beat
                frame = sys._current_frames().get(loop_thread)
                stack = "".join(traceback.format_stack(frame)[-12:]) if frame else "?"
                print(f"--- loop late {1000 * (time.perf_counter() - beat):.0f} ms:\n{stack}", file=sys.stderr)

    threading.Thread(target=watch, name="stall-diagnose", daemon=True).start()


async def serve() -> None:
    settings = Settings.load(transport="http", http_host="127.0.0.1")
    mcp = build_server(settings)
    monitor = StallMonitor()
    app = BenchRoutes(build_http_app(mcp, settings), monitor)  # type: ignore[arg-type]
    sock = listen()
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    if threads := os.environ.get("BENCH_THREADS"):  # experiment knob: the worker-thread pool's size
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = int(threads)
    watcher = asyncio.create_task(monitor.run())
    if os.environ.get("BENCH_DIAGNOSE") == "1":
        diagnose(monitor, threading.get_ident())
    try:
        await serve_and_announce(server, sock, "/mcp")
    finally:
        watcher.cancel()


if __name__ == "__main__":
    asyncio.run(serve())
