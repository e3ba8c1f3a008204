"""`runapi-mcp gallery`: serve the page on loopback, print its address with a fresh access token, wait."""

from __future__ import annotations

import argparse
import secrets
import sys
import webbrowser
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import uvicorn

from runapi_mcp.core.journal import Journal
from runapi_mcp.gallery.files import ImageFiles
from runapi_mcp.gallery.records import journal_file, open_gallery_journal
from runapi_mcp.gallery.web import GalleryApp, GalleryConfig
from runapi_mcp.serving import WILDCARD_BINDS, EmbeddedServer, base_url, listen_socket, serving
from runapi_mcp.settings import Settings, SettingsError

# 32 random bytes: 256 bits, far past guessing, in URL-safe base64.
TOKEN_BYTES = 32
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class RunningGallery:
    url: str  # with the token: the only address that answers
    token: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="another folder whose saved images may be shown (repeatable); the working directory, "
        "RUNAPI_MCP_OUTPUT_DIR, RUNAPI_MCP_ALLOWED_ROOTS and the per-user pictures folder always are",
    )
    parser.add_argument("--sandbox", action="store_true", help="show the sandbox's task journal instead")


def gallery_roots(settings: Settings, extra: Sequence[Path] = ()) -> list[Path]:
    roots = [*settings.roots, settings.fallback_output_dir, *extra]
    if settings.output_dir is not None:
        roots.append(
            settings.output_dir if settings.output_dir.is_absolute() else settings.working_dir / settings.output_dir
        )
    return roots


@asynccontextmanager
async def running_gallery(
    journal: Journal, roots: Sequence[Path], *, host: str = "127.0.0.1", port: int = 0
) -> AsyncGenerator[RunningGallery]:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    config = GalleryConfig(journal=journal, files=ImageFiles(roots), token=token)
    sock = listen_socket(host, port)
    bound = sock.getsockname()[1]
    names = [*LOOPBACK, *([] if host in WILDCARD_BINDS else [host])]
    config.allowed_hosts = {f"[{n}]:{bound}" if ":" in n else f"{n}:{bound}" for n in names}
    server = EmbeddedServer(uvicorn.Config(GalleryApp(config), log_level="warning", access_log=False, lifespan="off"))
    async with serving(server, sock, "gallery"):
        yield RunningGallery(url=f"{base_url(sock, host)}/{token}/", token=token)


def run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        print(f"runapi-mcp gallery: {exc}", file=sys.stderr)
        return 2
    path = journal_file(settings, sandbox=args.sandbox)
    shared = settings.database_url is not None and not args.sandbox
    if not shared and not path.is_file():
        print(
            f"runapi-mcp gallery: no task journal at {path} yet; generate an image first "
            "(or set RUNAPI_MCP_STATE_DIR to the folder the server uses).",
            file=sys.stderr,
        )
        return 1
    if args.host not in LOOPBACK:
        print(
            f"runapi-mcp gallery: warning: binding {args.host}; anyone who can reach it and has the address "
            "sees your images and prompts.",
            file=sys.stderr,
        )
    roots = gallery_roots(settings, [Path(r) for r in args.root])
    try:
        anyio.run(_serve, open_gallery_journal(settings, sandbox=args.sandbox), roots, args)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"runapi-mcp gallery: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}.", file=sys.stderr)
        return 2
    return 0


async def _serve(journal: Journal, roots: list[Path], args: argparse.Namespace) -> None:
    try:
        async with running_gallery(journal, roots, host=args.host, port=args.port) as gallery:
            print(f"Gallery: {gallery.url}", flush=True)
            print("Read-only; the address holds its access token. Ctrl-C stops it.", flush=True)
            if args.open:
                await anyio.to_thread.run_sync(webbrowser.open, gallery.url)
            await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await journal.close()
