"""Running the sandbox for real over loopback: inside the current event loop, or in a thread of its own."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import socket
import threading
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from runapi_mcp.sandbox.app import create_app
from runapi_mcp.sandbox.background import background
from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.connection import uvicorn_dropper
from runapi_mcp.sandbox.ledger_view import ledger_json
from runapi_mcp.sandbox.restore import restore
from runapi_mcp.sandbox.saver import StateSaver, saving
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.store import IN_PROCESS, SandboxStore, StoreUnreadable
from runapi_mcp.serving import (
    SHUTDOWN_TIMEOUT,
    STARTUP_TIMEOUT,
    EmbeddedServer,
    base_url,
    listen_socket,
    serving,
)

log = logging.getLogger(__name__)
REBIND_TRIES = 20
REBIND_PAUSE = 0.1


@dataclass(frozen=True)
class RunningSandbox:
    url: str
    """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash): use it as RUNAPI_BASE_URL."""
    host: str
    port: int
    app: Starlette
    state: SandboxState
    state_file: Path | None = None
    """Where the account is saved (None: in memory only, gone when the sandbox stops)."""
    lost_port: int | None = None
    """The port saved before a restart when it could not be bound again: URLs given out on it no longer work."""

    def ledger(self) -> dict[str, Any]:
        """What `GET /_sandbox/ledger` answers (call from the sandbox's own event loop)."""
        return ledger_json(self.state)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with access lines on stderr too: stdout belongs to the host (stdio MCP, the CLI's URL)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


@asynccontextmanager
async def running_sandbox(
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    state_dir: Path | None = None,
    store_name: str = IN_PROCESS,
    log_level: str = "warning",
    access_log: bool = False,
) -> AsyncGenerator[RunningSandbox]:
    """Serve the sandbox with uvicorn in the current (asyncio) event loop until the block exits, with its
    background loop (tasks finishing on time, callbacks) beside it; both stop when the block exits.

    With `state_dir` the account (tasks, keys, uploads, balance, clock) is saved there and loaded again on
    the next start (store.py); port 0 then means the port saved last time, or any free one if it is taken.
    The socket is bound before this yields, so a port that is taken raises OSError right here.
    """
    async with AsyncExitStack() as stack:
        app = create_app(config)
        state: SandboxState = app.state.sandbox
        store: SandboxStore | None = None
        saved_port: int | None = None
        if state_dir is not None:
            store = await anyio.to_thread.run_sync(SandboxStore.open_in, state_dir, store_name)
            stack.push_async_callback(anyio.to_thread.run_sync, store.close)  # closing checkpoints the WAL
            state.state_file = store.path
            snapshot = await anyio.to_thread.run_sync(store.load)
            try:
                expired = restore(state, snapshot)
            except (ValueError, KeyError, TypeError) as exc:  # a row this code cannot make sense of
                raise StoreUnreadable(store.path, exc) from None
            await anyio.to_thread.run_sync(store.drop_files, expired)
            remembered = snapshot.meta.get("port")
            saved_port = remembered if isinstance(remembered, int) and 0 < remembered < 65536 else None
        wants_saved_port = port == 0 and saved_port is not None
        sock = await _bind(host, port or saved_port or 0, fallback=wants_saved_port)
        bound_port: int = sock.getsockname()[1]
        # A port asked for by number is the caller's choice; only a saved one that could not be had is lost.
        lost_port = saved_port if wants_saved_port and saved_port != bound_port else None
        if lost_port is not None:
            log.warning("the sandbox's saved port %d is taken: URLs given out on it no longer work", lost_port)
        running = RunningSandbox(
            base_url(sock, host), host, bound_port, app, state, store.path if store else None, lost_port
        )
        yield await stack.enter_async_context(_serve(running, sock, store, log_level, access_log))


async def _bind(host: str, port: int, *, fallback: bool) -> socket.socket:
    """`port`; with `fallback`, tried again briefly (a server that just stopped may still hold it), then any."""
    if not fallback:
        return listen_socket(host, port)
    for _ in range(REBIND_TRIES):
        try:
            return listen_socket(host, port)
        except OSError:
            await anyio.sleep(REBIND_PAUSE)
    return listen_socket(host, 0)


@asynccontextmanager
async def _serve(
    running: RunningSandbox, sock: socket.socket, store: SandboxStore | None, log_level: str, access_log: bool
) -> AsyncGenerator[RunningSandbox]:
    app, state = running.app, running.state
    server = EmbeddedServer(
        uvicorn.Config(
            app,
            lifespan="off",
            log_level=log_level,
            access_log=access_log,
            timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT),
            log_config=_log_config(),
        )
    )
    state.connection_dropper = uvicorn_dropper(server)
    if store is None:
        async with serving(server, sock, "sandbox server"), background(state):
            yield running
        return
    saver = StateSaver(state, store, running.port)
    async with saving(saver), serving(server, sock, "sandbox server"), background(state):
        yield running


class SandboxThread:
    """The sandbox on a background thread with its own event loop, for sync code and for hosts whose own
    loop is busy (the stdio MCP server). Use as a context manager; `.url` is set once it is serving."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state_dir: Path | None = None,
    ) -> None:
        self._config = config
        self._state_dir = state_dir
        self._host = host
        self._port = port
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._running: RunningSandbox | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self._sandbox().url

    @property
    def state(self) -> SandboxState:
        """Owned by the sandbox's loop thread: read it through `ledger()` or HTTP while it runs."""
        return self._sandbox().state

    def _sandbox(self) -> RunningSandbox:
        if self._running is None:
            raise RuntimeError("the sandbox is not running")
        return self._running

    def start(self) -> SandboxThread:
        if self._thread is not None:
            raise RuntimeError("the sandbox thread was already started")
        self._thread = threading.Thread(target=self._run, name="runapi-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT + 1):
            raise RuntimeError("the sandbox did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have finished already
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(SHUTDOWN_TIMEOUT + 5)
        self._running = None

    def ledger(self) -> dict[str, Any]:
        """A snapshot of the ledger, taken on the sandbox's own loop."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the sandbox is not running")
        sandbox = self._sandbox()

        async def snapshot() -> dict[str, Any]:
            return sandbox.ledger()

        return asyncio.run_coroutine_threadsafe(snapshot(), loop).result(STARTUP_TIMEOUT)

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the starting thread, not lost with this one
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_sandbox(self._config, self._host, self._port, state_dir=self._state_dir) as sandbox:
            self._running = sandbox
            self._ready.set()
            await self._stop.wait()
