"""runapi-mcp's command line: serve (the default), sandbox, demo, init, doctor, login, logout, whoami,
gallery.

Subcommands import their modules only when chosen: a host starts `runapi-mcp` for every session, and
the serve path must not pay for the sandbox's or init's imports. This module must stay importable on older
Pythons, so that an unsupported one gets a sentence instead of a syntax error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from runapi_mcp import __version__

COMMANDS = ("serve", "sandbox", "demo", "init", "doctor", "login", "logout", "whoami", "gallery")
MIN_PYTHON = (3, 11)  # pyproject.toml's requires-python says the same (a test keeps them in step)


def python_problem(version: Sequence[int]) -> str | None:
    """Why this Python cannot run runapi-mcp, or None when it can."""
    if tuple(version[:2]) >= MIN_PYTHON:
        return None
    need = ".".join(map(str, MIN_PYTHON))
    return (
        f"runapi-mcp needs Python {need} or newer; this is Python {'.'.join(map(str, version[:3]))}. "
        f"Make the venv with a newer one, e.g. `python{need} -m venv .venv`."
    )


def unknown_command(word: str) -> str:
    import difflib

    close = difflib.get_close_matches(word, COMMANDS, n=1)
    hint = f" Did you mean `runapi-mcp {close[0]}`?" if close else ""
    return (
        f"runapi-mcp: unknown command {word!r}.{hint} Commands: {', '.join(COMMANDS)} "
        "(`runapi-mcp COMMAND --help` for each; no command serves MCP over stdio)."
    )


def _serve_parser(prog: str = "runapi-mcp") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="MCP server for RunAPI's GPT Image 2. Serves MCP over stdio unless told otherwise. "
        "Other commands: sandbox, demo, init, doctor, login, logout, whoami, gallery (runapi-mcp COMMAND --help).",
    )
    parser.add_argument("--version", action="version", version=f"runapi-mcp {__version__}")
    parser.add_argument("--transport", choices=("stdio", "http"), help="stdio (default) or streamable HTTP")
    # Text, checked by the settings exactly like RUNAPI_MCP_HOST and RUNAPI_MCP_PORT.
    parser.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", help="HTTP port, 0 to 65535 (default 8000; 0 picks a free one)")
    parser.add_argument("--stateless", action="store_true", default=None, help="stateless HTTP, for replicas")
    parser.add_argument("--sandbox", action="store_true", default=None, help="serve against a local RunAPI sandbox")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if problem := python_problem(tuple(sys.version_info[:3])):
        print(problem, file=sys.stderr)
        return 2
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not args[0].startswith("-") and args[0] not in COMMANDS:
        print(unknown_command(args[0]), file=sys.stderr)
        return 2
    command = args[0] if args and args[0] in COMMANDS else "serve"
    rest = args[1:] if args and args[0] in COMMANDS else args
    if command == "sandbox":
        from runapi_mcp.sandbox import cli as sandbox_cli

        parser = argparse.ArgumentParser(prog="runapi-mcp sandbox", description="Run a RunAPI-compatible sandbox.")
        sandbox_cli.add_arguments(parser)
        return sandbox_cli.run(parser.parse_args(rest))
    if command == "init":
        from runapi_mcp.install import cli as init_cli

        parser = argparse.ArgumentParser(prog="runapi-mcp init", description="Add runapi-mcp to a host's config.")
        init_cli.add_arguments(parser)
        return init_cli.run(parser.parse_args(rest))
    if command == "demo":
        parser = argparse.ArgumentParser(
            prog="runapi-mcp demo", description="Generate and edit an image through a real MCP session, no key needed."
        )
        parser.add_argument("--output-dir", default="runapi-images", help="where the images go")
        from runapi_mcp.demo import run_demo

        return run_demo(parser.parse_args(rest).output_dir)
    if command == "doctor":
        parser = argparse.ArgumentParser(
            prog="runapi-mcp doctor", description="Check the key, RunAPI, the folders and each host's set-up."
        )
        from runapi_mcp.doctor import add_arguments, run

        add_arguments(parser)
        return run(parser.parse_args(rest))
    if command in ("login", "logout", "whoami"):
        from runapi_mcp.login import commands as login_cli

        parser = argparse.ArgumentParser(prog=f"runapi-mcp {command}", description=login_cli.DESCRIPTIONS[command])
        login_cli.add_arguments(command, parser)
        return login_cli.run(command, parser.parse_args(rest))
    if command == "gallery":
        from runapi_mcp.gallery import cli as gallery_cli

        parser = argparse.ArgumentParser(
            prog="runapi-mcp gallery", description="A read-only local web page of your generated images."
        )
        gallery_cli.add_arguments(parser)
        return gallery_cli.run(parser.parse_args(rest))
    return _serve(_serve_parser().parse_args(rest))


def _serve(args: argparse.Namespace) -> int:
    from runapi_mcp.settings import Settings, SettingsError

    # stdout belongs to the protocol on stdio: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # One line per HTTP request drowns the lines that matter (and names every signed URL).
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    try:
        settings = Settings.load(
            transport=args.transport,
            http_host=args.host,
            http_port=args.port,
            http_stateless=args.stateless,
            sandbox=args.sandbox,
        )
    except SettingsError as exc:
        print(f"runapi-mcp: {exc}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(settings.log_level)
    from runapi_mcp.server import build_server

    mcp = build_server(settings)
    try:
        if settings.transport == "http":
            from runapi_mcp.server.http import HttpConfigError, serve_http

            try:
                serve_http(mcp, settings)  # type: ignore[arg-type]
            except HttpConfigError as exc:
                print(f"runapi-mcp: {exc}", file=sys.stderr)
                return 2
            return 0
        mcp.run("stdio")
    except Exception as exc:
        if not settings.sandbox or (problem := _sandbox_state_problem(exc)) is None:
            raise
        print(f"runapi-mcp: {problem}", file=sys.stderr)
        return 1
    return 0


def _sandbox_state_problem(exc: BaseException) -> str | None:
    """The sentence of a saved sandbox account that cannot be opened, wherever the server's tasks wrapped it."""
    from runapi_mcp.sandbox.store import StoreBusy, StoreUnreadable  # only once start-up has failed

    if isinstance(exc, StoreBusy | StoreUnreadable):
        return str(exc)
    inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())  # an exception group's members
    return next((found for e in inner if (found := _sandbox_state_problem(e)) is not None), None)
