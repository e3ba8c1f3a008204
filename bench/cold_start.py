"""1. Cold start: spawn to `tools/list` answered over stdio, ours against a bare one-tool MCPServer.

Both are started the same way (this Python, `-m`, the same minimal environment a host passes) and timed
from before the spawn to the tools/list answer, through the same MCP client. Runs alternate between the
two so that drift in the machine's load hits both; one untimed run of each first fills the bytecode
caches. The import-time comparison below the figure says where our extra start-up time goes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict

import anyio

from bench.common import REPO, Row, RunConfig, Section, median, server_env, stdio_params, stdio_session

MAX_RATIO = 1.15
# What `runapi-mcp` imports on its way to serving stdio, against what the bare server imports.
OURS_IMPORTS = "import runapi_mcp.cli, runapi_mcp.settings, runapi_mcp.server, runapi_mcp.server.state"
BARE_IMPORTS = "from mcp.server import MCPServer"


async def _time_once(cfg: RunConfig, name: str, args: list[str]) -> float:
    env = server_env(cfg, name, "http://127.0.0.1:9")
    params = stdio_params(cfg, name, args, env)
    with (cfg.folder("cold-start") / f"{name}.log").open("a", encoding="utf-8") as log:
        with anyio.fail_after(60):
            start = time.perf_counter()
            async with stdio_session(params, log) as client:
                tools = await client.list_tools()
                elapsed = time.perf_counter() - start
    if not tools.tools:
        raise RuntimeError(f"{name} listed no tools")
    return elapsed


def import_breakdown() -> list[tuple[str, float]]:
    """Self import time (ms) of modules our serve path imports and the bare server does not, by package."""

    def self_times(code: str) -> dict[str, int]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=env,
        ).stderr
        times: dict[str, int] = {}
        for line in out.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = line.removeprefix("import time:").split("|")
            times[name.strip()] = int(self_us)
        return times

    self_times(OURS_IMPORTS)  # untimed: writes any missing bytecode
    ours, bare = self_times(OURS_IMPORTS), self_times(BARE_IMPORTS)
    by_package: defaultdict[str, float] = defaultdict(float)
    for module, micros in ours.items():
        if module not in bare:
            parts = module.split(".")
            package = ".".join(parts[:3]) if parts[0] == "runapi_mcp" else parts[0]
            by_package[package] += micros / 1000
    return sorted(by_package.items(), key=lambda item: -item[1])


async def run(cfg: RunConfig) -> Section:
    section = Section()
    runs = 1 if cfg.quick else 10
    contenders = {"ours": ["-m", "runapi_mcp"], "bare": [str(REPO / "bench" / "bare_server.py")]}
    if not cfg.quick:
        for name, args in contenders.items():
            await _time_once(cfg, name, args)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, args in contenders.items():
            times[name].append(await _time_once(cfg, name, args))
    ours, bare = median(times["ours"]), median(times["bare"])
    ratio = ours / bare
    extra = import_breakdown()
    extra_ms = sum(ms for _, ms in extra)
    top = ", ".join(f"{name} {ms:.0f} ms" for name, ms in extra[:6])
    note = f"our serve path imports {extra_ms:.0f} ms of modules the bare server does not (largest: {top})"
    section.rows.append(
        Row(
            "1. cold start, spawn → tools/list, median",
            f"{ours:.3f} s",
            f"bare MCPServer {bare:.3f} s",
            f"{ratio:.2f}x (≤ {MAX_RATIO})",
            ratio <= MAX_RATIO,
            note,
        )
    )
    spread = {name: f"{min(v):.3f}..{max(v):.3f} s" for name, v in times.items()}
    section.notes.append(
        f"1. {runs} timed run(s) each, alternating, after one untimed run each; ranges: ours {spread['ours']}, "
        f"bare {spread['bare']}. Both spawned as `{sys.executable.rsplit('/', 1)[-1]} -m runapi_mcp` / "
        "`... bench/bare_server.py` with the MCP client's default environment plus a key and a state folder. "
        f"Import comparison (`-X importtime`, self time of modules the bare server does not import): {top}."
    )
    return section
