"""`runapi-mcp doctor`: every check in order, one line each; exit status 1 when any check failed."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx2
from pydantic import SecretStr

from runapi_mcp import __version__
from runapi_mcp.doctor.checks import (
    check_balance,
    check_base_url,
    check_key,
    check_output_dir,
    check_state_dir,
    is_placeholder,
)
from runapi_mcp.doctor.hosts import Started, check_configured, find_configured
from runapi_mcp.doctor.report import Report
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient
from runapi_mcp.settings import Settings, SettingsError

# A doctor that hangs is no help: RunAPI answers a price lookup in well under this.
HTTP_TIMEOUT = 10.0
START_TIMEOUT = 20.0
SANDBOX_KEY = "sandbox-key"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox", action="store_true", help="check against an in-process RunAPI sandbox (no key needed)"
    )
    parser.add_argument(
        "--no-start", action="store_true", help="do not start the commands the hosts are configured with"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT,
        metavar="SECONDS",
        help=f"how long a host's command may take to start and list its tools (default {START_TIMEOUT:g})",
    )


def run(args: argparse.Namespace) -> int:
    """The CLI entry: `runapi_mcp.cli` calls this with the parsed doctor arguments."""
    # A broken server's stray output makes the MCP client log tracebacks; its report line says it better.
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    return run_doctor(sandbox=bool(args.sandbox), start=not args.no_start, start_timeout=float(args.timeout))


def run_doctor(
    *,
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    project_dir: Path | None = None,
    sandbox: bool = False,
    start: bool = True,
    start_timeout: float = START_TIMEOUT,
    platform: str = sys.platform,
    out: TextIO | None = None,
) -> int:
    """Run every check and print one line each to `out` (stdout); returns 0, or 1 when a check failed.

    Settings come from `settings`, else are loaded from `env` (default: the process environment).
    Host configs are looked for under `project_dir` (default: the settings' working directory) and
    `home` (default: the user's home). Never prints the API key.
    """
    call = partial(
        doctor,
        settings=settings,
        env=env,
        home=home,
        project_dir=project_dir,
        sandbox=sandbox,
        start=start,
        start_timeout=start_timeout,
        platform=platform,
        out=out,
    )
    return anyio.run(call)


async def doctor(
    *,
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    project_dir: Path | None = None,
    sandbox: bool = False,
    start: bool = True,
    start_timeout: float = START_TIMEOUT,
    platform: str = sys.platform,
    out: TextIO | None = None,
) -> int:
    """`run_doctor` for callers already inside an event loop (asyncio)."""
    report = Report(out or sys.stdout)
    try:
        loaded = settings if settings is not None else Settings.load(env)
    except SettingsError as exc:
        report.add("FAIL", "settings", f"{exc} The other checks need the settings: fix this first.")
        return report.finish()
    key = loaded.api_key.get_secret_value() if loaded.api_key else None
    if key and not is_placeholder(key):  # a bare variable reference is shown: it names the problem
        report.hide([key])
    present = "found" if loaded.config_file.is_file() else "absent (optional)"
    report.add("ok", "settings", f"runapi-mcp {__version__}; config file {loaded.config_file} {present}")

    await _check_account_and_folders(report, loaded, sandbox=sandbox or loaded.sandbox)

    configured = find_configured(
        report, project_dir=project_dir or loaded.working_dir, home=home or Path.home(), platform=platform
    )
    if not configured:
        report.add("warn", "hosts", "no host config found with a runapi server; add one with `runapi-mcp init <host>`.")
    started: dict[tuple[Any, ...], Started | str] = {}
    for item in configured:
        cwd = (project_dir or loaded.working_dir) if item.scope == "project" else (home or Path.home())
        await check_configured(report, item, cwd=cwd, start=start, start_timeout=start_timeout, started=started)
    return report.finish()


async def _check_account_and_folders(report: Report, settings: Settings, *, sandbox: bool) -> None:
    async with AsyncExitStack() as stack:
        if sandbox:
            from runapi_mcp.sandbox import SandboxConfig, running_sandbox

            running = await stack.enter_async_context(running_sandbox(SandboxConfig(latency=0)))
            settings = settings.replace(base_url=running.url, api_key=SecretStr(SANDBOX_KEY))
        have_key = check_key(report, settings, sandbox=sandbox)
        http = await stack.enter_async_context(
            httpx2.AsyncClient(timeout=httpx2.Timeout(HTTP_TIMEOUT), follow_redirects=False)
        )
        client = RunAPIClient(
            http,
            base_url=settings.base_url,
            api_key=settings.api_key if have_key else None,
            retry=RetryPolicy(max_retries=0),
            user_agent=f"runapi-mcp/{__version__} doctor",
        )
        reachable = await check_base_url(report, client, settings, sandbox=sandbox)
        await check_balance(report, client, have_key=have_key, reachable=reachable)
    await check_output_dir(report, settings)
    await check_state_dir(report, settings, sandbox=sandbox)
