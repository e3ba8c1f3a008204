"""What every measurement shares: the result row, the run's knobs, and child processes that stop by themselves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

REPO = Path(__file__).resolve().parent.parent
API_KEY = "sk-bench-0000"
CHILD_START_TIMEOUT = 30.0
CHILD_STOP_TIMEOUT = 10.0


@dataclass
class Row:
    """One line of the table. `ok` is None for figures that have no target of their own."""

    metric: str
    ours: str
    baseline: str
    target: str
    ok: bool | None
    note: str = ""
    alternative: bool = False
    """A figure for a setting other than the product's default, for comparison: shown, not in the verdict."""


@dataclass(frozen=True)
class RunConfig:
    quick: bool
    workdir: Path
    """A fresh temporary folder for this run: state, projects and logs of every child process."""

    def folder(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class Section:
    rows: list[Row] = field(default_factory=list[Row])
    notes: list[str] = field(default_factory=list[str])
    """Method notes for RESULTS.md: how the figures were taken."""


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def server_env(cfg: RunConfig, name: str, base_url: str, **extra: str) -> dict[str, str]:
    """What a host passes our server: a key, the API's URL, and a state folder of its own."""
    home = cfg.folder(f"{name}/home")
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "RUNAPI_API_KEY": API_KEY,
        "RUNAPI_BASE_URL": base_url,
        "RUNAPI_MCP_STATE_DIR": str(cfg.folder(f"{name}/state")),
        "RUNAPI_MCP_LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def stdio_params(cfg: RunConfig, name: str, args: Sequence[str], env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=list(args), env=env, cwd=str(cfg.folder(f"{name}/project"))
    )


@asynccontextmanager
async def stdio_session(params: StdioServerParameters, log: IO[str]) -> AsyncIterator[Client]:
    """A real MCP client on a spawned server; the server's stderr goes to `log`, not the table."""
    async with Client(stdio_client(params, errlog=log)) as client:  # type: ignore[arg-type]
        yield client


@dataclass
class Child:
    """A helper process of the bench (sandbox, HTTP server): it prints `URL <url>` once serving."""

    process: asyncio.subprocess.Process
    url: str


@asynccontextmanager
async def child_process(
    args: Sequence[str], *, env: dict[str, str] | None, cwd: Path, log: Path
) -> AsyncIterator[Child]:
    """Start `python ARGS`, wait for its URL line, and stop it on exit.

    The child stops when its stdin closes, so it also stops if the bench dies; a child that does not
    stop in time is killed by its own pid.
    """
    # The caller's own RunAPI settings (a real key among them) stay out of the bench; and the children keep
    # their bytecode, as an installed package does (PYTHONDONTWRITEBYTECODE would recompile on every start).
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("RUNAPI") and k != "PYTHONDONTWRITEBYTECODE"}
    full_env = {**inherited, **(env or {}), "PYTHONUNBUFFERED": "1"}
    with log.open("a", encoding="utf-8") as errlog:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errlog,
            env=full_env,
            cwd=str(cwd),
        )
    try:
        url = await _read_url(process, log)
        yield Child(process, url)
    finally:
        await _stop(process)


async def _read_url(process: asyncio.subprocess.Process, log: Path) -> str:
    assert process.stdout is not None
    with anyio.fail_after(CHILD_START_TIMEOUT):
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise RuntimeError(f"a bench helper exited before serving; see {log}")
            if line.startswith("URL "):
                return line.split(" ", 1)[1].strip()


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError, RuntimeError):
            process.stdin.close()
    with anyio.CancelScope(shield=True):
        try:
            with anyio.fail_after(CHILD_STOP_TIMEOUT):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def text_tokens(chars: int) -> float:
    """About four characters per token: the usual rule of thumb for English text and JSON."""
    return chars / 4


def image_tokens(width: int, height: int) -> float:
    """Width times height over 750: how vision models commonly bill an image."""
    return width * height / 750


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def default_schedule() -> str:
    """The product's poll schedule in words, read from its defaults (the figures follow the code)."""
    from runapi_mcp.runapi.polling import PollSchedule
    from runapi_mcp.settings import Settings

    initial = Settings.model_fields["poll_initial_seconds"].default
    maximum = Settings.model_fields["poll_max_seconds"].default
    return describe_schedule(initial, PollSchedule().factor, maximum)


def describe_schedule(initial: float, factor: float, maximum: float) -> str:
    if maximum <= initial:
        return f"poll every {initial:g} s"
    return f"poll after {initial:g} s, then x{factor:g} up to every {maximum:g} s"
