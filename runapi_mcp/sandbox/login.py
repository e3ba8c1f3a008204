"""RunAPI's browser login, as the sandbox plays it: the authorize page (one Approve button) and the exchange.

`GET /cli/authorize` shows the display code and the machine's name; approving posts back, and the
browser is redirected to `http://127.0.0.1:<redirect_port>/callback?code=..&state=..`. The code is good
for one `POST /api/v1/cli/exchange` within ten minutes, and only with the PKCE verifier for the
challenge and the same redirect port. The key handed out is one this sandbox accepts.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from runapi_mcp.login.pkce import verifier_matches
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.http_io import read_body, read_json
from runapi_mcp.sandbox.state import SandboxState

SANDBOX_EMAIL = "sandbox@runapi-mcp.invalid"  # the sandbox's one account, as GET /api/v1/me names it
CODE_TTL = 600.0
_FIELDS = ("state", "code_challenge", "code_challenge_method", "redirect_port", "display_code", "hostname")
_STATE = re.compile(r"[A-Za-z0-9_\-.~]{16,512}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_\-]{43}")  # base64url of a SHA-256 digest, unpadded
_VERIFIER = re.compile(r"[A-Za-z0-9_\-.~]{43,128}")
_DISPLAY_CODE = re.compile(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}")


@dataclass(frozen=True)
class _Grant:
    challenge: str
    redirect_port: int
    hostname: str
    expires_at: float


class _BadAuthorize(ValueError):
    pass


class SandboxLogin:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.grants: dict[str, _Grant] = {}

    async def authorize_page(self, request: Request) -> Response:
        try:
            fields = _checked({name: request.query_params.get(name, "") for name in _FIELDS})
        except _BadAuthorize as exc:
            return _page("Cannot sign in", f"<p>{html.escape(str(exc))}</p>", status=400)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value, quote=True)}">'
            for name, value in fields.items()
        )
        body = (
            f"<p><b>{html.escape(fields['hostname'] or 'A computer')}</b> asks to sign in to the RunAPI sandbox "
            f"as {SANDBOX_EMAIL}.</p><p>Check that your terminal shows this code:</p>"
            f"<p style='font-size:2em;letter-spacing:.1em'><code>{fields['display_code']}</code></p>"
            f'<form method="post" action="/cli/authorize">{hidden}'
            '<button type="submit" name="decision" value="approve">Approve</button> '
            '<button type="submit" name="decision" value="deny">Deny</button></form>'
        )
        return _page("Sign in to RunAPI (sandbox)", body)

    async def authorize_submit(self, request: Request) -> Response:
        raw = await read_body(request, 64 * 1024)
        form = {name: values[0] for name, values in parse_qs(raw.decode("utf-8", "replace")).items()}
        try:
            fields = _checked({name: form.get(name, "") for name in _FIELDS})
        except _BadAuthorize as exc:
            return _page("Cannot sign in", f"<p>{html.escape(str(exc))}</p>", status=400)
        port = int(fields["redirect_port"])
        answer = {"state": fields["state"]}
        if form.get("decision") != "approve":
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            now = self.state.now()
            self.grants = {c: g for c, g in self.grants.items() if g.expires_at > now}
            self.grants[code] = _Grant(fields["code_challenge"], port, fields["hostname"], now + CODE_TTL)
            answer["code"] = code
        # 303: the browser follows with a GET, as RunAPI's page does.
        return RedirectResponse(f"http://127.0.0.1:{port}/callback?{urlencode(answer)}", status_code=303)

    async def exchange(self, request: Request) -> Response:
        body = await read_json(request, 64 * 1024)
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
        payload: dict[str, Any] = body  # pyright: ignore[reportUnknownVariableType]
        code, verifier, port = payload.get("code"), payload.get("code_verifier"), payload.get("redirect_port")
        hostname = request.headers.get("x-cli-hostname", "").strip()
        if not isinstance(code, str) or not isinstance(verifier, str) or not _VERIFIER.fullmatch(verifier):
            raise ApiError(422, "validation_failed", "code and code_verifier (43-128 characters) are required.")
        if isinstance(port, bool) or not isinstance(port, int):
            raise ApiError(422, "validation_failed", "redirect_port must be the callback's port number.")
        if not hostname:
            raise ApiError(400, "invalid_request", "The x-cli-hostname header is required.")
        grant = self.grants.pop(code, None)  # one try per code, right or wrong
        if grant is None or grant.expires_at <= self.state.now():
            raise ApiError(400, "invalid_grant", "The login code is unknown, already used or expired.")
        if not verifier_matches(verifier, grant.challenge):
            raise ApiError(400, "invalid_grant", "code_verifier does not match the code_challenge.")
        if port != grant.redirect_port:
            raise ApiError(400, "invalid_grant", "redirect_port does not match the authorize request.")
        name = f"runapi-mcp on {grant.hostname or hostname}"
        answer = {"key": self._new_key(), "name": name, "user": {"email": SANDBOX_EMAIL}}
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    def _new_key(self) -> str:
        accepted = self.state.config.accepted_keys
        # With a fixed key list the sandbox can only hand out a key from it; otherwise any key works.
        return sorted(accepted)[0] if accepted else "rk-sandbox-" + secrets.token_urlsafe(24)


def _checked(fields: dict[str, str]) -> dict[str, str]:
    if not _STATE.fullmatch(fields["state"]):
        raise _BadAuthorize("The sign-in link has no valid state; start the sign-in again.")
    if fields["code_challenge_method"] != "S256" or not _CHALLENGE.fullmatch(fields["code_challenge"]):
        raise _BadAuthorize("The sign-in link needs an S256 code_challenge; start the sign-in again.")
    port = fields["redirect_port"]
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _BadAuthorize("The sign-in link has no valid redirect_port; start the sign-in again.")
    if not _DISPLAY_CODE.fullmatch(fields["display_code"]):
        raise _BadAuthorize("The sign-in link has no valid display code; start the sign-in again.")
    fields["hostname"] = "".join(c for c in fields["hostname"] if c.isprintable())[:255]
    return fields


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    page = (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<body style='font-family:sans-serif;margin:3em'><h1>{html.escape(title)}</h1>{body}</body>"
    )
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


def login_routes(state: SandboxState) -> list[Route]:
    login = SandboxLogin(state)
    return [
        Route("/cli/authorize", login.authorize_page, methods=["GET"]),
        Route("/cli/authorize", login.authorize_submit, methods=["POST"]),
        Route("/api/v1/cli/exchange", login.exchange, methods=["POST"]),
    ]
