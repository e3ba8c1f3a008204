"""Streamable HTTP: /mcp and /healthz, loopback by default, auth required for any other bind."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from runapi_mcp.settings import Settings

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4 * 1024 * 1024


class HttpConfigError(ValueError):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> None:
    """A server reachable from other machines must never spend the owner's key for anyone who asks."""
    if is_loopback(settings.http_host):
        if settings.http_auth == "token" and settings.http_token is None:
            raise HttpConfigError("RUNAPI_MCP_HTTP_AUTH=token needs RUNAPI_MCP_HTTP_TOKEN.")
        return
    if settings.http_auth == "none":
        raise HttpConfigError(
            f"Refusing to serve on {settings.http_host} without auth. Set RUNAPI_MCP_HTTP_AUTH=per-request "
            "(each client sends its own RunAPI key) or RUNAPI_MCP_HTTP_AUTH=token with RUNAPI_MCP_HTTP_TOKEN, "
            "or bind to 127.0.0.1."
        )
    if settings.http_auth == "token" and settings.http_token is None:
        raise HttpConfigError("RUNAPI_MCP_HTTP_AUTH=token needs RUNAPI_MCP_HTTP_TOKEN.")


def security_settings(settings: Settings) -> TransportSecuritySettings:
    # Any port on the loopback names (port 0 binds a port we only learn later); other names only if configured.
    hosts = ["127.0.0.1", "localhost", "[::1]", "127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if not is_loopback(settings.http_host) and settings.http_host not in ("0.0.0.0", "::"):
        hosts += [settings.http_host, f"{settings.http_host}:*"]
    hosts.extend(settings.http_allowed_hosts)
    origins.extend(settings.http_allowed_origins)
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class BearerGuard:
    """Checks the Authorization header on /mcp before the MCP layer sees the request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.settings.http_auth == "none" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        ok = scheme.lower() == "bearer" and bool(token)
        if ok and self.settings.http_auth == "token":
            expected = self.settings.http_token.get_secret_value() if self.settings.http_token else ""
            ok = hmac.compare_digest(token.encode(), expected.encode())
        if not ok:
            what = "your RunAPI key" if self.settings.http_auth == "per-request" else "the server's access token"
            response = JSONResponse(
                {"error": "unauthorized", "message": f"Send Authorization: Bearer <{what}>."},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_http_app(mcp: MCPServer[object], settings: Settings) -> ASGIApp:
    check_bind(settings)

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(_: Request) -> Response:  # pyright: ignore[reportUnusedFunction]
        return JSONResponse({"status": "ok"})

    app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=settings.http_stateless,
        max_request_body_size=MAX_REQUEST_BYTES,
        transport_security=security_settings(settings),
        host=settings.http_host,
    )
    return BearerGuard(app, settings)


def serve_http(mcp: MCPServer[object], settings: Settings) -> None:
    import uvicorn

    app = build_http_app(mcp, settings)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level="warning", lifespan="on")
