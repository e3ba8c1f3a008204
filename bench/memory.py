"""Peak memory of one generate_image call with count=4 when RunAPI's results are huge.

`python -m bench.memory [--quick]`. The sandbox runs in a process of its own (bench.sandbox_proc); each
call runs in a fresh child process (the server in memory, driven by an MCP client), which resets its peak
RSS (Linux: /proc/self/clear_refs) just before the call and reads it (VmHWM) right after. Scenarios, all
count=4, every download answered by the sandbox's `huge-image` fault except the baseline's:
- normal: the sandbox's own 1k results (the baseline every ratio is against);
- bomb: 9000x9000 PNGs of a few hundred KB (81 Mpx each, under Pillow's own limit);
- big: PNGs of about 40 MB at 5600x5600 (31 Mpx, under the download cap and the preview cap);
each also "unbounded": the same call with the preview pixel cap and the decode budget lifted, as the
code was before them. Printed per scenario: the call's peak above the idle server, and that as a ratio
of the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx2

from bench.common import API_KEY, REPO, child_process

SCENARIOS: tuple[tuple[str, str | None], ...] = (
    ("normal", None),
    ("bomb", "huge-image;shape=bomb;side=9000"),
    ("big", "huge-image;shape=big;side=5600;mb=40"),
)
T = TypeVar("T")
QUICK_SCENARIOS: tuple[tuple[str, str | None], ...] = (
    ("normal", None),
    ("bomb", "huge-image;shape=bomb;side=6000"),
)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


class _Unbounded:
    def run(self, pixels: int, work: Callable[[], T]) -> T:
        return work()


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak RSS, to the current RSS


async def _call(sandbox_url: str, work: Path, unbounded: bool) -> dict[str, Any]:
    from mcp import Client

    from runapi_mcp.core import images
    from runapi_mcp.server import build_server
    from runapi_mcp.settings import Settings

    if unbounded:  # the code as it was: no preview pixel cap below Pillow's, no decode budget or thread
        images.PREVIEW_MAX_PIXELS = images.MAX_PIXELS
        images.DECODES = _Unbounded()
    env = {
        "HOME": str(work / "home"),
        "RUNAPI_BASE_URL": sandbox_url,
        "RUNAPI_API_KEY": API_KEY,
        "RUNAPI_MCP_STATE_DIR": str(work / "state"),
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.05",
        "RUNAPI_MCP_WAIT_SECONDS": "120",
        "RUNAPI_MCP_LOG_LEVEL": "ERROR",
    }
    settings = Settings.load(env=env, working_dir=work)
    async with Client(build_server(settings)) as client:
        await client.call_tool("get_pricing", {})  # imports and first-use work out of the measurement
        idle_kb = _status_kb("VmRSS")
        _reset_peak()
        started = time.perf_counter()
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse at dusk", "count": 4})
        seconds = time.perf_counter() - started
        peak_kb = _status_kb("VmHWM")
    tasks = (result.structured_content or {}).get("tasks", [])
    return {
        "idle_mb": idle_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "seconds": seconds,
        "completed": sum(1 for task in tasks if task.get("status") == "completed"),
        "saved": sum(1 for task in tasks for image in task.get("images", []) if image.get("path")),
        "previews": sum(1 for block in result.content if block.type == "image"),
    }


async def _scenario(sandbox_url: str, fault: str | None, work: Path, unbounded: bool) -> dict[str, Any]:
    async with httpx2.AsyncClient() as http:
        await http.delete(f"{sandbox_url}/_sandbox/faults")
        if fault is not None:
            spec = {"fault": fault, "method": "GET", "path": "/files/*", "count": 4}
            (await http.post(f"{sandbox_url}/_sandbox/faults", json={"faults": [spec]})).raise_for_status()
    args = [sys.executable, "-m", "bench.memory", "--call", sandbox_url, str(work)] + (["--unbounded"] * unbounded)
    process = await asyncio.create_subprocess_exec(*args, cwd=str(REPO), stdout=asyncio.subprocess.PIPE)
    stdout, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the measured call failed (exit {process.returncode})")
    return json.loads(stdout.decode().strip().splitlines()[-1])


async def measure(quick: bool) -> list[str]:
    scenarios = QUICK_SCENARIOS if quick else SCENARIOS
    with tempfile.TemporaryDirectory(prefix="runapi-mcp-memory-") as tmp:
        root = Path(tmp)
        sandbox_args = ["-m", "bench.sandbox_proc", "--latency", "0.01"]
        async with child_process(sandbox_args, env=None, cwd=REPO, log=root / "sandbox.log") as sandbox:
            results: list[tuple[str, dict[str, Any]]] = []
            for name, fault in scenarios:
                for unbounded in (False, True) if fault else (False,):
                    label = f"{name} (unbounded)" if unbounded else name
                    work = root / label.replace(" ", "-").replace("(", "").replace(")", "")
                    work.mkdir()
                    results.append((label, await _scenario(sandbox.url, fault, work, unbounded)))
    base = results[0][1]["peak_mb"] - results[0][1]["idle_mb"]
    lines = [
        "count=4 generate_image, peak RSS of the call above the idle server (x = ratio to the normal call's)",
        f"{'scenario':<18} {'peak above idle':>16} {'x normal':>9} {'saved':>6} {'previews':>9} {'seconds':>8}",
    ]
    for label, r in results:
        above = r["peak_mb"] - r["idle_mb"]
        lines.append(
            f"{label:<18} {above:>13.0f} MB {above / max(base, 1.0):>8.1f}x {r['saved']:>6} {r['previews']:>9} "
            f"{r['seconds']:>8.1f}"
        )
    lines.append(
        f"idle server RSS {results[0][1]['idle_mb']:.0f} MB; all calls completed: "
        f"{all(r['completed'] == 4 for _, r in results)}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller bomb, no big-file scenario")
    parser.add_argument("--call", nargs=2, metavar=("SANDBOX_URL", "WORKDIR"), help=argparse.SUPPRESS)
    parser.add_argument("--unbounded", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.call:
        print(json.dumps(anyio.run(_call, args.call[0], Path(args.call[1]), args.unbounded)))
        return 0
    if not os.path.exists("/proc/self/clear_refs"):
        print("bench.memory needs Linux (/proc/self/clear_refs and VmHWM)", file=sys.stderr)
        return 1
    for line in anyio.run(measure, args.quick):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
