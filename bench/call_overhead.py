"""2. Per-call overhead: get_task through MCP against a direct GET to the sandbox, on a finished task and on
a pending one.

One task is generated first; then, in alternating rounds, the same task is read by a direct httpx2 GET
of its status (one keep-alive connection), by get_task over stdio (`python -m runapi_mcp`) and by
get_task over streamable HTTP (bench.http_server, the server `--transport http` builds). Both servers
share one state folder, so both answer a finished task from the journal: the sandbox's request counts
show whether any MCP call went to the network at all. The pending task is created directly (slow for an
hour), so every get_task on it is one status read plus the server's own work: that difference is the cost of
the MCP layer, the journal and the result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
from mcp import Client

from bench.common import (
    API_KEY,
    REPO,
    Row,
    RunConfig,
    Section,
    child_process,
    median,
    percentile,
    server_env,
    stdio_params,
    stdio_session,
)

MAX_ADDED_STDIO = 0.003
# A pending get_task is one status read more than the journal: the budget over a direct GET.
MAX_ADDED_PENDING = 0.0015


async def run(cfg: RunConfig) -> Section:
    with anyio.fail_after(300):  # bounded: a stuck call fails the run instead of hanging it
        return await _run(cfg)


async def _run(cfg: RunConfig) -> Section:
    section = Section()
    rounds, warmup = (20, 3) if cfg.quick else (300, 20)
    logs = cfg.folder("overhead")
    async with child_process(["-m", "bench.sandbox_proc"], env=None, cwd=REPO, log=logs / "sandbox.log") as sandbox:
        env = server_env(cfg, "overhead", sandbox.url, RUNAPI_MCP_WAIT_SECONDS="60")
        params = stdio_params(cfg, "overhead", ["-m", "runapi_mcp"], env)
        http_env = {**env, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with (logs / "stdio-server.log").open("a", encoding="utf-8") as log:
            async with (
                stdio_session(params, log) as stdio,
                httpx2.AsyncClient(base_url=sandbox.url, headers=headers, timeout=30) as direct,
            ):
                created = await stdio.call_tool("generate_image", {"prompt": "a red kite over a beach"})
                task_id = _completed_task_id(created)
                async with (
                    child_process(
                        ["-m", "bench.http_server"],
                        env=http_env,
                        cwd=cfg.folder("overhead/project"),
                        log=logs / "http-server.log",
                    ) as http_server,
                    Client(http_server.url) as http,
                ):
                    status_path = f"/api/v1/gpt_image_2/text_to_image/{task_id}"

                    async def direct_get() -> None:
                        response = await direct.get(status_path)
                        if response.json().get("status") != "completed":
                            raise RuntimeError("the direct GET did not see a completed task")

                    async def via(client: Client) -> None:
                        result = await client.call_tool("get_task", {"task_id": task_id})
                        _completed_task_id(result)

                    contenders: dict[str, Callable[[], Awaitable[None]]] = {
                        "direct": direct_get,
                        "stdio": lambda: via(stdio),
                        "http": lambda: via(http),
                    }
                    for fn in contenders.values():
                        for _ in range(warmup):
                            await fn()
                    before = (await direct.get("/_bench/counts")).json()
                    times: dict[str, list[float]] = {name: [] for name in contenders}
                    for _ in range(rounds):
                        for name, fn in contenders.items():
                            start = time.perf_counter()
                            await fn()
                            times[name].append(time.perf_counter() - start)
                    after = (await direct.get("/_bench/counts")).json()
                    pending = await _pending_rounds(direct, stdio, http, rounds, warmup)
    mcp_reads = after.get("status", 0) - before.get("status", 0) - rounds
    base = median(times["direct"])
    for name, label, target in (("stdio", "stdio", MAX_ADDED_STDIO), ("http", "streamable HTTP", None)):
        value = median(times[name])
        added = value - base
        section.rows.append(
            Row(
                f"2. get_task on a finished task, {label}, median",
                f"{value * 1000:.2f} ms (p90 {percentile(times[name], 0.9) * 1000:.2f})",
                f"direct GET {base * 1000:.2f} ms (p90 {percentile(times['direct'], 0.9) * 1000:.2f})",
                f"+{added * 1000:.2f} ms" + (f" (≤ {target * 1000:g} ms)" if target is not None else " (no target)"),
                None if target is None else added <= target,
            )
        )
    base = median(pending["direct"])
    for name, label in (("stdio", "stdio"), ("http", "streamable HTTP")):
        value = median(pending[name])
        added = value - base
        section.rows.append(
            Row(
                f"2. get_task on a pending task, {label}, median",
                f"{value * 1000:.2f} ms (p90 {percentile(pending[name], 0.9) * 1000:.2f})",
                f"direct GET {base * 1000:.2f} ms (p90 {percentile(pending['direct'], 0.9) * 1000:.2f})",
                f"+{added * 1000:.2f} ms"
                + (f" (≤ {MAX_ADDED_PENDING * 1000:g} ms)" if name == "stdio" else " (no target)"),
                added <= MAX_ADDED_PENDING if name == "stdio" else None,
            )
        )
    section.notes.append(
        f"2. {rounds} alternating rounds after {warmup} warm-up calls each. Status reads the MCP calls made: "
        f"{mcp_reads} (a finished task with its files on disk is answered from the journal). Both MCP servers "
        "run with defaults; the HTTP one in stateful mode, the client reusing one session."
    )
    return section


async def _pending_rounds(
    direct: httpx2.AsyncClient, stdio: Client, http: Client, rounds: int, warmup: int
) -> dict[str, list[float]]:
    created = await direct.post(
        "/api/v1/gpt_image_2/text_to_image",
        json={"model": "gpt-image-2", "prompt": "a slow kite"},
        headers={"Idempotency-Key": f"bench-pending-{time.time_ns()}", "X-Sandbox-Fault": "slow;seconds=3600"},
    )
    task_id = str(created.json()["id"])
    status_path = f"/api/v1/gpt_image_2/text_to_image/{task_id}"

    async def direct_get() -> None:
        if (await direct.get(status_path)).json().get("status") not in ("pending", "processing"):
            raise RuntimeError("the direct GET did not see a pending task")

    async def via(client: Client) -> None:
        result = await client.call_tool("get_task", {"task_id": task_id})
        if result.is_error or task_id not in " ".join(getattr(b, "text", "") for b in result.content):
            raise RuntimeError("get_task on the pending task failed")

    contenders: dict[str, Callable[[], Awaitable[None]]] = {
        "direct": direct_get,
        "stdio": lambda: via(stdio),
        "http": lambda: via(http),
    }
    for fn in contenders.values():
        for _ in range(warmup):  # the first call adopts the task; the rest find it in the journal
            await fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            await fn()
            times[name].append(time.perf_counter() - start)
    return times


def _completed_task_id(result: Any) -> str:
    tasks = (result.structured_content or {}).get("tasks", [])
    if result.is_error or len(tasks) != 1 or tasks[0].get("status") != "completed":
        text = " ".join(getattr(block, "text", "") for block in result.content)[:300]
        raise RuntimeError(f"expected one completed task, got: {text}")
    return str(tasks[0]["task_id"])
