"""`runapi-mcp sandbox` / `python -m runapi_mcp.sandbox`: serve the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
from types import FrameType

from runapi_mcp.sandbox.config import FAULT_RATE_FIELDS, SandboxConfig
from runapi_mcp.sandbox.durations import parse_spread
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
    parser.add_argument(
        "--slow-read-delay",
        dest="sandbox_slow_read_delay",
        type=float,
        default=defaults.slow_read_delay,
        metavar="SECONDS",
        help="how long a slow-read fault holds a status answer (default: %(default)s)",
    )
    parser.add_argument(
        "--durations",
        dest="sandbox_durations",
        default=None,
        metavar="SPREAD",
        help="draw each task's duration from uniform:, lognormal: or tiered:LOW-HIGH seconds "
        "(tiered: by output resolution; overrides --latency)",
    )
    parser.add_argument(
        "--time-scale",
        dest="sandbox_time_scale",
        type=float,
        default=defaults.time_scale,
        metavar="K",
        help="run the sandbox's clock K times faster than wall time (default: %(default)s)",
    )
    parser.add_argument(
        "--callback-secret",
        dest="sandbox_callback_secret",
        default=None,
        metavar="SECRET",
        help="sign callbacks with this secret (default: a random one, printed at start)",
    )
    parser.add_argument(
        "--allow-remote-callbacks",
        dest="sandbox_callback_any_host",
        action="store_true",
        help="deliver callbacks to any host, not only loopback addresses",
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
    durations = parse_spread(args.sandbox_durations) if args.sandbox_durations else None
    config = SandboxConfig(
        latency=args.sandbox_latency,
        task_durations=durations,
        time_scale=args.sandbox_time_scale,
        slow_read_delay=args.sandbox_slow_read_delay,
        callback_secret=args.sandbox_callback_secret,
        callback_any_host=args.sandbox_callback_any_host,
        balance_cents=args.sandbox_balance,
        url_ttl=args.sandbox_url_ttl,
        accepted_keys=frozenset(keys) if keys else None,
        slow_task_latency=args.sandbox_slow_latency,
        retry_after=args.sandbox_retry_after,
        status_retry_after=args.sandbox_status_retry_after,
        seed=args.sandbox_seed,
    )
    return dataclasses.replace(config, **rates) if rates else config


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
            print(
                "Callback signing secret (the sandbox's own scheme, header X-Sandbox-Signature): "
                + sandbox.state.callbacks.secret,
                file=sys.stderr,
                flush=True,
            )
            await stop.wait()
    except OSError as exc:
        print(f"runapi-mcp sandbox: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
