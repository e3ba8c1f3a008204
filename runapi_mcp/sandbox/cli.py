"""`runapi-mcp sandbox` / `python -m runapi_mcp.sandbox`: serve the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from types import FrameType

from runapi_mcp.sandbox.config import FAULT_RATE_FIELDS, SandboxConfig
from runapi_mcp.sandbox.server import running_sandbox

DEFAULT_PORT = 8780


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for the sandbox command. Every dest starts with `sandbox_` so they never clash with others."""
    defaults = SandboxConfig()
    parser.add_argument(
        "--host", dest="sandbox_host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        dest="sandbox_port",
        type=int,
        default=DEFAULT_PORT,
        help="port to bind, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--latency",
        dest="sandbox_latency",
        type=float,
        default=defaults.latency,
        metavar="SECONDS",
        help="time from create to a finished task (default: %(default)s)",
    )
    parser.add_argument(
        "--balance",
        dest="sandbox_balance",
        type=int,
        default=defaults.balance_cents,
        metavar="CENTS",
        help="starting balance in cents (default: %(default)s)",
    )
    parser.add_argument(
        "--url-ttl",
        dest="sandbox_url_ttl",
        type=float,
        default=defaults.url_ttl,
        metavar="SECONDS",
        help="lifetime of output and file URLs (default: 7 days)",
    )
    parser.add_argument(
        "--key",
        dest="sandbox_keys",
        action="append",
        metavar="KEY",
        help="accept only this API key (repeatable; default: any non-empty key)",
    )
    parser.add_argument(
        "--fault-rate",
        dest="sandbox_fault_rates",
        action="append",
        default=[],
        metavar="KIND=P",
        help=f"inject a fault with probability P; KIND is one of {', '.join(FAULT_RATE_FIELDS)} (repeatable)",
    )
    parser.add_argument(
        "--slow-latency",
        dest="sandbox_slow_latency",
        type=float,
        default=defaults.slow_task_latency,
        metavar="SECONDS",
        help="how long a slow task takes (default: %(default)s)",
    )
    parser.add_argument(
        "--retry-after",
        dest="sandbox_retry_after",
        type=float,
        default=defaults.retry_after,
        metavar="SECONDS",
        help="Retry-After on injected 429s (default: %(default)s)",
    )
    parser.add_argument(
        "--status-retry-after",
        dest="sandbox_status_retry_after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="send this Retry-After on pending status responses (a poll hint)",
    )
    parser.add_argument("--seed", dest="sandbox_seed", type=int, default=None, help="seed for the fault dice")
    parser.add_argument(
        "--log-level",
        dest="sandbox_log_level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level, on stderr (default: %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """ValueError with a readable message for a bad option value."""
    rates: dict[str, float] = {}
    for item in args.sandbox_fault_rates:
        kind, sep, raw = str(item).partition("=")
        if not sep or kind not in FAULT_RATE_FIELDS:
            raise ValueError(f"--fault-rate takes KIND=P with KIND one of {', '.join(FAULT_RATE_FIELDS)}; got {item!r}")
        try:
            rates[FAULT_RATE_FIELDS[kind]] = float(raw)
        except ValueError:
            raise ValueError(f"--fault-rate {kind}: {raw!r} is not a probability") from None
    keys: list[str] | None = args.sandbox_keys
    return SandboxConfig(
        latency=args.sandbox_latency,
        balance_cents=args.sandbox_balance,
        url_ttl=args.sandbox_url_ttl,
        accepted_keys=frozenset(keys) if keys else None,
        slow_task_latency=args.sandbox_slow_latency,
        retry_after=args.sandbox_retry_after,
        status_retry_after=args.sandbox_status_retry_after,
        seed=args.sandbox_seed,
        rate_limit_rate=rates.get("rate_limit_rate", 0.0),
        server_error_rate=rates.get("server_error_rate", 0.0),
        drop_rate=rates.get("drop_rate", 0.0),
        lost_response_rate=rates.get("lost_response_rate", 0.0),
        fail_task_rate=rates.get("fail_task_rate", 0.0),
        slow_task_rate=rates.get("slow_task_rate", 0.0),
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"runapi-mcp sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(config, args.sandbox_host, args.sandbox_port, args.sandbox_log_level))
    except KeyboardInterrupt:
        return 0


async def _serve(config: SandboxConfig, host: str, port: int, log_level: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop.set)

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # Windows event loops have no signal handlers
            signal.signal(signum, on_signal)
    access_log = log_level in ("info", "debug")
    try:
        async with running_sandbox(config, host, port, log_level=log_level, access_log=access_log) as sandbox:
            print(f"RunAPI sandbox listening on {sandbox.url}", flush=True)
            keys = (
                "any non-empty API key"
                if config.accepted_keys is None
                else f"{len(config.accepted_keys)} configured key(s)"
            )
            print(
                f"Accepting {keys}. Point RunAPI clients at it with RUNAPI_BASE_URL={sandbox.url}. "
                "Images are sandbox placeholders. Ledger: GET /_sandbox/ledger. Stop with Ctrl+C.",
                file=sys.stderr,
                flush=True,
            )
            await stop.wait()
    except OSError as exc:
        print(f"runapi-mcp sandbox: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
