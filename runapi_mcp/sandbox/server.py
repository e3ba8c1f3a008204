"""Running the sandbox for real over loopback: inside the current event loop, or in a thread of its own."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from runapi_mcp.sandbox.app import create_app
from runapi_mcp.sandbox.background import background
from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.connection import uvicorn_dropper
from runapi_mcp.sandbox.ledger_view import ledger_json
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.serving import (
    SHUTDOWN_TIMEOUT,
    STARTUP_TIMEOUT,
    EmbeddedServer,
    base_url,
    listen_socket,
    serving,
)


@dataclass(frozen=True)
class RunningSandbox:
    url: str
    """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash): use it as RUNAPI_BASE_URL."""
    host: str
    port: int
    app: Starlette
    state: SandboxState

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
    log_level: str = "warning",
    access_log: bool = False,
) -> AsyncGenerator[RunningSandbox]:
    """Serve the sandbox with uvicorn in the current (asyncio) event loop until the block exits, with its
    background loop (tasks finishing on time, callbacks) beside it; both stop when the block exits.

    The socket is bound before this yields, so a port that is taken raises OSError right here.
    """
    app = create_app(config)
    state: SandboxState = app.state.sandbox
    sock = listen_socket(host, port)
    bound_port: int = sock.getsockname()[1]
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
    async with serving(server, sock, "sandbox server"), background(state):
        yield RunningSandbox(base_url(sock, host), host, bound_port, app, state)


class SandboxThread:
    """The sandbox on a background thread with its own event loop, for sync code and for hosts whose own
    loop is busy (the stdio MCP server). Use as a context manager; `.url` is set once it is serving."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self._config = config
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
        async with running_sandbox(self._config, self._host, self._port) as sandbox:
            self._running = sandbox
            self._ready.set()
            await self._stop.wait()
