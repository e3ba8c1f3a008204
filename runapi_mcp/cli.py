"""runapi-mcp's command line: serve (the default), sandbox, demo, init, doctor."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from runapi_mcp import __version__

COMMANDS = ("serve", "sandbox", "demo", "init", "doctor")


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=("stdio", "http"), help="stdio (default) or streamable HTTP")
    parser.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8000)")
    parser.add_argument("--stateless", action="store_true", default=None, help="stateless HTTP, for replicas")
    parser.add_argument("--sandbox", action="store_true", default=None, help="serve against a local RunAPI sandbox")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runapi-mcp",
        description="MCP server for RunAPI's GPT Image 2. With no command it serves MCP (stdio by default).",
    )
    parser.add_argument("--version", action="version", version=f"runapi-mcp {__version__}")
    _serve_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="{serve,sandbox,demo,init,doctor}")
    _serve_arguments(sub.add_parser("serve", help="serve MCP (the default)"))

    from runapi_mcp.sandbox import cli as sandbox_cli

    sandbox_cli.add_arguments(sub.add_parser("sandbox", help="run a RunAPI-compatible sandbox server"))
    demo = sub.add_parser("demo", help="generate and edit an image through a real MCP session on the sandbox")
    demo.add_argument("--output-dir", default="runapi-images", help="where the demo's images go")

    from runapi_mcp.hosts import cli as init_cli

    init_cli.add_arguments(sub.add_parser("init", help="add runapi-mcp to a host's MCP configuration"))
    doctor = sub.add_parser("doctor", help="check the key, RunAPI, folders and host set-up")
    doctor.add_argument("--host-only", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command == "sandbox":
        from runapi_mcp.sandbox import cli as sandbox_cli

        return sandbox_cli.run(args)
    if command == "init":
        from runapi_mcp.hosts import cli as init_cli

        return init_cli.run(args)
    if command == "demo":
        from runapi_mcp.demo import run_demo

        return run_demo(args.output_dir)
    if command == "doctor":
        from runapi_mcp.doctor import run_doctor

        return run_doctor()
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from runapi_mcp.settings import Settings, SettingsError

    # stdout belongs to the protocol on stdio: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.load(
            transport=args.transport, http_host=args.host, http_port=args.port,
            http_stateless=args.stateless, sandbox=args.sandbox,
        )
    except SettingsError as exc:
        print(f"runapi-mcp: {exc}", file=sys.stderr)
        return 2
    from runapi_mcp.server import build_server

    mcp = build_server(settings)
    if settings.transport == "http":
        from runapi_mcp.server.http import HttpConfigError, serve_http

        try:
            serve_http(mcp, settings)  # type: ignore[arg-type]
        except HttpConfigError as exc:
            print(f"runapi-mcp: {exc}", file=sys.stderr)
            return 2
        return 0
    mcp.run("stdio")
    return 0
