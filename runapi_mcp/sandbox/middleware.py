"""Request ids, and faults on demand: from the `X-Sandbox-Fault` header, the scripted queue, or the dice.

Faults on the HTTP exchange act here; task, status-read and download faults are left in the scope for
the handler (FAULT_SCOPE_KEY)."""

from __future__ import annotations

import math
import re
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runapi_mcp.sandbox.errors import bad_body_response, error_response
from runapi_mcp.sandbox.faults import Fault, parse_fault
from runapi_mcp.sandbox.state import SandboxState

FAULT_HEADER = "x-sandbox-fault"
FAULT_SCOPE_KEY = "runapi_sandbox.fault"
CONTROL_PREFIX = "/_sandbox"
CREATE_PATHS = frozenset({"/api/v1/gpt_image_2/text_to_image", "/api/v1/gpt_image_2/edit_image"})
STATUS_PATH = re.compile(r"^/api/v1/gpt_image_2/(text_to_image|edit_image)/[^/]+$")
MAX_CLIENT_REQUEST_ID = 512


class ConnectionDropped(Exception):
    """Raised where no server hook can drop the connection (e.g. an in-memory ASGI transport)."""


def format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def retry_after_value(fault: Fault, default: float) -> str | None:
    """The Retry-After of an injected status; `default` (wall seconds) for a 429 that names none."""
    seconds = fault.retry_after
    if seconds is None:
        if fault.status != 429:
            return None
        seconds = default
    if fault.retry_after_is_date:
        # HTTP dates have whole seconds: round up so a client never retries early.
        moment = datetime.fromtimestamp(math.ceil(time.time() + seconds), UTC)
        return format_datetime(moment, usegmt=True)
    return format_seconds(seconds)


def _request_kind(method: str, path: str) -> str:
    if method == "POST" and path in CREATE_PATHS:
        return "create"
    if method == "GET" and STATUS_PATH.match(path):
        return "status"
    if method == "GET" and path.startswith("/files/"):
        return "download"
    return "control" if path.startswith(CONTROL_PREFIX) else "other"


def _valid_client_request_id(value: str) -> bool:
    return 0 < len(value) <= MAX_CLIENT_REQUEST_ID and all(" " <= char <= "~" for char in value)


class SandboxMiddleware:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        extra = {"x-request-id": "req_" + uuid.uuid4().hex}
        client_request_id = headers.get("x-client-request-id")

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    response_headers[name] = value
            await send(message)

        if client_request_id is not None:
            if not _valid_client_request_id(client_request_id):
                response = error_response(
                    400,
                    "invalid_client_request_id",
                    f"X-Client-Request-Id must be 1 to {MAX_CLIENT_REQUEST_ID} printable ASCII characters.",
                )
                await response(scope, receive, send_with_ids)
                return
            extra["x-client-request-id"] = client_request_id

        path: str = scope["path"]
        self.state.requests[_request_kind(scope["method"], path)] += 1
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            await self.app(scope, receive, send_with_ids)
            return
        try:
            fault = self._choose(scope, headers)
        except ValueError as exc:
            await error_response(400, "invalid_fault", f"{FAULT_HEADER}: {exc}")(scope, receive, send_with_ids)
            return

        if fault is None or fault.kind == "none":
            await self.app(scope, receive, send_with_ids)
        elif fault.kind == "status":
            await self._status(fault, scope, receive, send_with_ids)
        elif fault.kind in ("drop", "reset"):
            self.state.injected[fault.label] += 1
            await self._drop(scope, receive, reset=fault.kind == "reset")
        elif fault.kind == "lost-response":
            self.state.injected[fault.label] += 1

            async def discard(message: Message) -> None:
                pass

            await self.app(scope, receive, discard)
            await self._drop(scope, receive, reset=False)
        elif fault.kind == "bad-body":
            await self._bad_body(fault, scope, receive, send_with_ids)
        elif fault.kind == "slow-read":
            self.state.injected[fault.label] += 1
            seconds = fault.seconds if fault.seconds is not None else self.state.config.slow_read_delay
            await anyio.sleep(self.state.config.wall_seconds(seconds))
            await self.app(scope, receive, send_with_ids)
        else:
            scope[FAULT_SCOPE_KEY] = fault
            await self.app(scope, receive, send_with_ids)

    def _choose(self, scope: Scope, headers: Headers) -> Fault | None:
        spec = headers.get(FAULT_HEADER)
        if spec is not None:
            return parse_fault(spec)
        method: str = scope["method"]
        path: str = scope["path"]
        queued = self.state.faults.take(method, path)
        if queued is not None:
            return queued
        if not path.startswith("/api/"):
            return None
        dice = self.state.dice
        fault = dice.request_fault(is_create=method == "POST" and path in CREATE_PATHS)
        if fault is None and method == "GET" and STATUS_PATH.match(path):
            fault = dice.read_fault()
        return fault

    async def _status(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        self.state.injected[fault.label] += 1
        status = fault.status or 500
        headers: dict[str, str] = {}
        config = self.state.config
        retry_after = retry_after_value(fault, config.wall_seconds(config.retry_after))
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        await error_response(status, None, fault.message, headers)(scope, receive, send)

    async def _bad_body(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle the request fully (a create commits and charges), then answer 200 with a body that is not
        the contract's and no task id header, so only an Idempotency-Key replay can find the task."""
        answer: dict[str, int] = {}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            if not 200 <= answer.get("status", 0) < 300:
                await send(message)

        await self.app(scope, receive, capture)
        if not 200 <= answer.get("status", 0) < 300:
            return  # an error answer (nothing created) passes through unchanged
        self.state.injected[f"{fault.label} ({fault.variant})"] += 1
        await bad_body_response(fault.variant or "html")(scope, receive, send)

    async def _drop(self, scope: Scope, receive: Receive, *, reset: bool) -> None:
        dropper = self.state.connection_dropper
        if dropper is None or not dropper(scope, reset):
            raise ConnectionDropped("sandbox fault: connection dropped")
        # Wait for the server to notice the closed socket, so it does not answer in our place.
        with anyio.move_on_after(5):
            while (await receive())["type"] != "http.disconnect":
                pass
