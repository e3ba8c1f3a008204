"""The sandbox in a process of its own, with a request log the bench can read.

`python -m bench.sandbox_proc [--latency S] [--retry-after S] [--durations uniform:8-60] [--time-scale K]
[--seed N]` prints `URL <base url>` once serving on 127.0.0.1 and stops when its stdin closes. With
`--durations`, task durations are drawn from that spread (sandbox seconds); `--time-scale K` runs the
sandbox's clock K times faster, so a 60 s task takes 60/K wall seconds and Retry-After hints and
callbacks are sent in wall seconds to match. In front of the sandbox app sits a small ASGI layer that:
- gives a create a per-task duration through the sandbox's own `slow;seconds=S` fault, read from the
  Idempotency-Key (`...-s<S>-...`), so any client (our server, a plain poller) can ask for a 10 s task;
- logs the arrival time of every status read per task, and counts requests by kind;
- answers `GET /_bench/tasks`: per task its key, created_at and done_at (wall clock, time.time(), so
  they compare with the status reads at any time scale), duration (sandbox seconds) and the status
  reads, and `GET /_bench/counts`.
The sandbox's background loop runs beside it, so tasks with a `callback_url` get their callbacks.
Running in its own process keeps the bench's clients from sharing an event loop (and a GIL) with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.proc import listen, send_json, serve_and_announce
from runapi_mcp.sandbox import SandboxConfig, SandboxState, create_app
from runapi_mcp.sandbox.background import background
from runapi_mcp.sandbox.durations import parse_spread

_KEY_SECONDS = re.compile(r"-s(\d+(?:\.\d+)?)-")
_STATUS_PATH = re.compile(r"^/api/v1/gpt_image_2/(text_to_image|edit_image)/([^/]+)$")
_CREATE_PATH = re.compile(r"^/api/v1/gpt_image_2/(text_to_image|edit_image)$")


class RequestLog:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state
        self.status_reads: defaultdict[str, list[float]] = defaultdict(list)
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/_bench/"):
            await self._answer(path, send)
            return
        if method == "GET" and (match := _STATUS_PATH.match(path)):
            self.status_reads[match.group(2)].append(time.time())
            self.counts["status"] += 1
        elif method == "POST" and _CREATE_PATH.match(path):
            self.counts["create"] += 1
            scope = _with_duration(scope)
        elif method == "GET" and path.startswith("/files/"):
            self.counts["download"] += 1
        else:
            self.counts["other"] += 1
        await self.app(scope, receive, send)

    async def _answer(self, path: str, send: Send) -> None:
        body: Any
        if path == "/_bench/tasks":
            clock = self.state.clock
            body = {
                task.id: {
                    "key": task.idempotency_key,
                    "created_at": clock.to_wall(task.created_at),
                    "done_at": clock.to_wall(task.done_at),
                    "duration": task.done_at - task.created_at,
                    "status_reads": self.status_reads.get(task.id, []),
                }
                for task in self.state.tasks.values()
            }
        elif path == "/_bench/counts":
            body = dict(self.counts)
        else:
            body = {"error": "unknown bench route"}
        data = json.dumps(body).encode()
        await send_json(send, data)


def _with_duration(scope: Scope) -> Scope:
    headers: list[tuple[bytes, bytes]] = list(scope["headers"])
    names = {name.lower() for name, _ in headers}
    if b"x-sandbox-fault" in names:
        return scope
    key = next((value.decode() for name, value in headers if name.lower() == b"idempotency-key"), "")
    match = _KEY_SECONDS.search(key)
    if match is None:
        return scope
    headers.append((b"x-sandbox-fault", f"slow;seconds={match.group(1)}".encode()))
    return {**scope, "headers": headers}


async def serve(config: SandboxConfig) -> None:
    app = create_app(config)
    state: SandboxState = app.state.sandbox
    logged = RequestLog(app, state)
    sock = listen()
    server = uvicorn.Server(uvicorn.Config(logged, lifespan="off", log_level="warning", access_log=False))
    async with background(state):
        await serve_and_announce(server, sock)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_proc")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds a task takes unless its key says")
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After on unfinished statuses")
    parser.add_argument("--durations", default=None, help="uniform:LOW-HIGH or lognormal:LOW-HIGH seconds")
    parser.add_argument("--time-scale", type=float, default=1.0, help="sandbox seconds per wall second")
    parser.add_argument("--seed", type=int, default=None, help="seed for the durations and fault dice")
    args = parser.parse_args()
    try:
        config = SandboxConfig(
            latency=args.latency,
            balance_cents=100_000_000,
            status_retry_after=args.retry_after,
            task_durations=parse_spread(args.durations) if args.durations else None,
            time_scale=args.time_scale,
            seed=args.seed,
        )
    except ValueError as exc:
        parser.error(str(exc))
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
