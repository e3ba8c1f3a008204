"""The loopback listener the authorize page sends the browser back to: `http://127.0.0.1:<port>/callback`.

A tiny HTTP/1.1 responder on anyio rather than a web framework: it answers one kind of GET, and the
server process that may run it (login from inside a host) should not pay for more.
"""

from __future__ import annotations

import hmac
import html
import logging
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from runapi_mcp.login.background import background_tasks
from runapi_mcp.login.errors import LoginDenied, LoginTimeout

log = logging.getLogger(__name__)

CALLBACK_PATH = "/callback"
_MAX_HEAD = 16 * 1024
_READ_SECONDS = 10.0  # a browser's idle pre-connection must not hold anything up


class CallbackListener:
    """Waits for the browser to arrive with `code` and our `state`; any other state gets a 400."""

    def __init__(self, expected_state: str) -> None:
        self._expected_state = expected_state
        self._arrived = anyio.Event()
        self._code: str | None = None
        self._denied: str | None = None
        self._stack = AsyncExitStack()
        self.port = 0

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
            stack.push_async_callback(listener.aclose)
            self.port = int(listener.listeners[0].extra(SocketAttribute.local_port))
            group = await stack.enter_async_context(background_tasks())
            group.start_soon(listener.serve, self._handle)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    async def wait(self, seconds: float) -> str:
        """The authorization code, once the browser brings it; LoginTimeout after `seconds`."""
        with anyio.move_on_after(seconds):
            await self._arrived.wait()
        if self._denied is not None:
            raise LoginDenied(f"The sign-in was not approved in the browser ({self._denied}).")
        if self._code is None:
            raise LoginTimeout(f"Nobody approved the sign-in within {seconds:g} s.")
        return self._code

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(_READ_SECONDS):
                    head = await _read_head(stream)
                status, body = self._answer(head)
                await stream.send(_response(status, body))
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return

    def _answer(self, head: bytes) -> tuple[int, str]:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] != "GET":
            return 405, "Only GET is served here."
        target = urlsplit(parts[1])
        if target.path != CALLBACK_PATH:
            return 404, "Nothing here."
        query = parse_qs(target.query)
        state = (query.get("state") or [""])[0]
        if self._arrived.is_set():
            return 409, "This sign-in has already finished; you can close this tab."
        if not state or not hmac.compare_digest(state.encode(), self._expected_state.encode()):
            # Someone else's (or a stale) redirect: refuse it and keep waiting for ours.
            log.warning("sign-in callback with a state that does not match this login; ignored")
            return 400, "This sign-in link does not belong to the login that is waiting. Start again."
        if error := (query.get("error") or [""])[0]:
            self._denied = error[:100]
            self._arrived.set()
            return 200, "Sign-in cancelled. You can close this tab."
        code = (query.get("code") or [""])[0]
        if not code:
            return 400, "The sign-in answer carries no code. Start again."
        self._code = code
        self._arrived.set()
        return 200, "runapi-mcp received your approval. You can close this tab."


async def _read_head(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        data += await stream.receive(4096)
        if len(data) > _MAX_HEAD:
            break
    return data


def _response(status: int, message: str) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict"}[status]
    page = (
        "<!doctype html><meta charset=utf-8><title>runapi-mcp sign-in</title>"
        f"<body style='font-family:sans-serif;margin:3em'><p>{html.escape(message)}</p></body>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(page)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    return head + page
