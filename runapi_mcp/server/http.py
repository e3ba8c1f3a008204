"""Streamable HTTP: /mcp and /healthz, loopback by default, auth required for any other bind.

Three layers guard /mcp, outermost first: BearerGuard (auth, and in per-request mode a session stays with
the key that opened it), the SDK's Host/Origin checks against DNS rebinding, and its request size limit.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runapi_mcp.core.callbacks import CALLBACK_PATH
from runapi_mcp.server.bearer import bearer_token
from runapi_mcp.server.callbacks import callback_route
from runapi_mcp.serving import (
    SHUTDOWN_TIMEOUT,
    WILDCARD_BINDS,
    EmbeddedServer,
    base_url,
    listen_socket,
    serving,
)
from runapi_mcp.settings import Settings

log = logging.getLogger(__name__)

# The floor for the request size limit; the limit grows to fit one maximal image sent as a data: URI.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
_JSON_SLACK_BYTES = 1024 * 1024
# Sessions remembered for the key check; the oldest is forgotten first (the SDK expires idle sessions too).
MAX_TRACKED_SESSIONS = 10_000
SESSION_HEADER = "mcp-session-id"


class HttpConfigError(ValueError):
    pass


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> None:
    """A server reachable from other machines must never spend the owner's key for anyone who asks."""
    if settings.http_auth == "token" and settings.http_token is None:
        raise HttpConfigError("RUNAPI_MCP_HTTP_AUTH=token needs RUNAPI_MCP_HTTP_TOKEN.")
    if is_loopback(settings.http_host):
        return
    if settings.http_auth == "none":
        raise HttpConfigError(
            f"Refusing to serve on {settings.http_host or 'all interfaces'} without auth. Set "
            "RUNAPI_MCP_HTTP_AUTH=per-request (each client sends its own RunAPI key) or RUNAPI_MCP_HTTP_AUTH=token "
            "with RUNAPI_MCP_HTTP_TOKEN, or bind to 127.0.0.1."
        )


def request_limit(settings: Settings) -> int:
    """Bytes one request may carry: enough for one maximal image as base64 in a data: URI, at least 4 MiB."""
    return max(MAX_REQUEST_BYTES, -(-settings.max_input_bytes // 3) * 4 + _JSON_SLACK_BYTES)


def security_settings(settings: Settings) -> TransportSecuritySettings:
    # Any port on the loopback names (port 0 binds a port we only learn later); other names only if configured.
    hosts = ["127.0.0.1", "localhost", "[::1]", "127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    bound = settings.http_host
    if not is_loopback(bound) and bound not in WILDCARD_BINDS:
        name = f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound
        hosts += [name, f"{name}:*"]
    hosts.extend(settings.http_allowed_hosts)
    origins.extend(settings.http_allowed_origins)
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class BearerGuard:
    """Checks the Authorization header on /mcp before the MCP layer sees the request.

    In per-request mode the bearer is the caller's RunAPI key, and a session belongs to the key that
    opened it: another key presenting its session id is told the session does not exist, so one tenant
    cannot listen in on, or act inside, another's session.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._sessions: OrderedDict[str, str] = OrderedDict()  # session id -> digest of the key that opened it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.settings.http_auth == "none" or _open_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = bearer_token(headers)
        ok = token is not None
        if token is not None and self.settings.http_auth == "token":
            expected = self.settings.http_token.get_secret_value() if self.settings.http_token else ""
            ok = hmac.compare_digest(token.encode(), expected.encode())
        if not ok or token is None:
            what = "your RunAPI key" if self.settings.http_auth == "per-request" else "the server's access token"
            response = JSONResponse(
                {"error": "unauthorized", "message": f"Send Authorization: Bearer <{what}>."},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="runapi-mcp"'},
            )
            await response(scope, receive, send)
            return
        if self.settings.http_auth != "per-request":
            await self.app(scope, receive, send)
            return
        digest = hashlib.sha256(token.encode()).hexdigest()
        session = headers.get(SESSION_HEADER)
        if session is not None:
            owner = self._sessions.get(session)
            if owner is None:
                self._remember(session, digest)  # forgotten (or never seen): the first key to use it keeps it
            elif not hmac.compare_digest(owner, digest):
                # The same answer as for a session that never existed: nothing tells the caller it is someone's.
                await JSONResponse(
                    {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}},
                    status_code=404,
                )(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self._binding_send(send, digest))

    def _binding_send(self, send: Send, digest: str) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == SESSION_HEADER.encode():
                        self._remember(value.decode("latin-1"), digest)
            await send(message)

        return wrapped

    def _remember(self, session: str, digest: str) -> None:
        self._sessions[session] = digest
        self._sessions.move_to_end(session)
        while len(self._sessions) > MAX_TRACKED_SESSIONS:
            self._sessions.popitem(last=False)


def _open_path(path: str) -> bool:
    """Paths that take no bearer: the health check, and callbacks (their token is the capability)."""
    return path == "/healthz" or path.startswith(CALLBACK_PATH)


def build_http_app(mcp: MCPServer[Any], settings: Settings) -> ASGIApp:
    check_bind(settings)
    app: Starlette = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=settings.http_stateless,
        max_request_body_size=request_limit(settings),
        transport_security=security_settings(settings),
        host=settings.http_host,
    )
    # Added to this app rather than registered on the server, so building twice never doubles the route.
    app.router.routes.append(Route("/healthz", _healthz, methods=["GET"]))
    if settings.public_url:
        app.router.routes.append(callback_route())
    return BearerGuard(app, settings)


async def _healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        # Slow or idle clients cannot hold connections for ever; MCP's own streams keep their connection busy.
        timeout_keep_alive=15,
        timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT),
    )


def serve_http(mcp: MCPServer[Any], settings: Settings) -> None:
    app = build_http_app(mcp, settings)
    sock = listen_socket(settings.http_host, settings.http_port)
    url = base_url(sock, settings.http_host)
    if not is_loopback(settings.http_host) and not settings.http_allowed_hosts:
        log.warning(
            "Only loopback Host headers are accepted; set RUNAPI_MCP_ALLOWED_HOSTS to the names clients use."
        )
    log.info("serving MCP over streamable HTTP at %s/mcp (auth: %s)", url, settings.http_auth)
    try:
        uvicorn.Server(_uvicorn_config(app)).run(sockets=[sock])
    finally:
        sock.close()


@asynccontextmanager
async def running_http(mcp: MCPServer[Any], settings: Settings, *, port: int = 0) -> AsyncGenerator[str]:
    """Serve `mcp` over streamable HTTP in the current (asyncio) event loop; yields the base URL.

    For tests and benchmarks: the socket is bound on `settings.http_host` before this yields.
    """
    app = build_http_app(mcp, settings)
    sock = listen_socket(settings.http_host, port)
    async with serving(EmbeddedServer(_uvicorn_config(app)), sock, "HTTP server"):
        yield base_url(sock, settings.http_host)
