"""Streamable HTTP: /mcp, /healthz (alive) and /readyz (taking calls), loopback by default, auth required
for any other bind.

Four layers guard /mcp, outermost first: the drain (on SIGTERM new calls get a 503 and /readyz fails while
running calls finish), BearerGuard (auth, and in per-request mode a session stays with the key that opened
it), the SDK's Host/Origin checks against DNS rebinding, and its request size limit.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from mcp.server import MCPServer
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runapi_mcp.core.callbacks import CALLBACK_PATH
from runapi_mcp.server.bearer import bearer_token
from runapi_mcp.server.callbacks import callback_route
from runapi_mcp.server.request_state import STATE_KEYS_SETTING, needs_shared_keys
from runapi_mcp.serving import (
    SHUTDOWN_TIMEOUT,
    WILDCARD_BINDS,
    Drain,
    DrainGuard,
    DrainingServer,
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
MCP_PATH = "/mcp"
# Probes answer without auth: a balancer or kubelet has no key.
PROBE_PATHS = ("/healthz", "/readyz")
# A call's wait ends with a download and a save: the default drain outlasts the wait budget by this much.
DRAIN_MARGIN_SECONDS = 10.0
DRAINING_MESSAGE = (
    "This server is shutting down and takes no new calls. Send the call again (another replica answers it); "
    "a create you resend must reuse its idempotency_key so it is not paid twice."
)


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

    In per-request mode the bearer is the caller's RunAPI key. The request is marked with who it is
    (`scope["user"]`, named by a digest of the key, never the key), so the SDK binds each session to the
    key that opened it: another key presenting its session id is told the session does not exist, and one
    tenant cannot listen in on, or act inside, another's session.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.settings.http_auth == "none" or _open_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope))
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
        if self.settings.http_auth == "per-request":
            digest = hashlib.sha256(token.encode()).hexdigest()
            scope = {**scope, "user": AuthenticatedUser(AccessToken(token=digest, client_id=digest, scopes=[]))}
        await self.app(scope, receive, send)


def _open_path(path: str) -> bool:
    """Paths that take no bearer: the probes, and callbacks (their token is the capability)."""
    return path in PROBE_PATHS or path.startswith(CALLBACK_PATH)


def drain_seconds(settings: Settings) -> float:
    """How long SIGTERM waits for running calls: RUNAPI_MCP_DRAIN_SECONDS, else the wait budget plus a margin."""
    if settings.drain_seconds is not None:
        return settings.drain_seconds
    return settings.wait_seconds + DRAIN_MARGIN_SECONDS


def build_http_app(mcp: MCPServer[Any], settings: Settings, drain: Drain | None = None) -> ASGIApp:
    check_bind(settings)
    drain = drain or Drain(drain_seconds(settings))
    app: Starlette = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=settings.http_stateless,
        max_request_body_size=request_limit(settings),
        transport_security=security_settings(settings),
        host=settings.http_host,
    )

    async def readyz(_: Request) -> Response:
        state = "draining" if drain.draining else "ready"
        return JSONResponse(
            {"status": state, "calls_in_flight": drain.in_flight}, status_code=503 if drain.draining else 200
        )

    # Added to this app rather than registered on the server, so building twice never doubles the route.
    app.router.routes.append(Route("/healthz", _healthz, methods=["GET"]))
    app.router.routes.append(Route("/readyz", readyz, methods=["GET"]))
    if settings.public_url:
        app.router.routes.append(callback_route())
    return DrainGuard(
        BearerGuard(app, settings), drain, guarded=_is_mcp, counted=_is_call, refuse=_refuse_while_draining
    )


def _is_mcp(scope: Scope) -> bool:
    return scope["path"] == MCP_PATH or scope["path"].startswith(MCP_PATH + "/")


def _is_call(scope: Scope) -> bool:
    # Every MCP message is a POST; a session's standalone GET stream lives as long as its client, and
    # the drain does not wait for it.
    return scope["method"] == "POST" and _is_mcp(scope)


async def _refuse_while_draining(scope: Scope, receive: Receive, send: Send) -> None:
    # A JSON-RPC error body: MCP clients show its message rather than a bare status.
    await JSONResponse(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": DRAINING_MESSAGE}},
        status_code=503,
        headers={"Retry-After": "1", "Connection": "close"},
    )(scope, receive, send)


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
    drain = Drain(drain_seconds(settings))
    app = build_http_app(mcp, settings, drain)
    sock = listen_socket(settings.http_host, settings.http_port)
    url = base_url(sock, settings.http_host)
    if not is_loopback(settings.http_host) and not settings.http_allowed_hosts:
        log.warning("Only loopback Host headers are accepted; set RUNAPI_MCP_ALLOWED_HOSTS to the names clients use.")
    if needs_shared_keys(settings):
        log.warning(
            "%s is not set: request state this replica seals is refused by the others. Give every replica "
            "the same keys (32+ random characters each) when several serve one address.",
            STATE_KEYS_SETTING,
        )
    log.info(
        "serving MCP over streamable HTTP at %s/mcp (auth: %s, readiness at /readyz, SIGTERM drains up to %gs)",
        url,
        settings.http_auth,
        drain.seconds,
    )
    try:
        DrainingServer(_uvicorn_config(app), drain).run(sockets=[sock])
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
