"""The sandbox's HTTP face: RunAPI's endpoints, the upload and download URLs, and the `/_sandbox` controls."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, cast
from urllib.parse import urlsplit

import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runapi_mcp.runapi.models import ACTIONS
from runapi_mcp.sandbox.clock import iso
from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.encoding import decode_base64, decode_data_uri, extension_for, is_data_uri, sniff_image_mime
from runapi_mcp.sandbox.errors import ApiError, api_error_response, error_response
from runapi_mcp.sandbox.faults import Fault
from runapi_mcp.sandbox.files import StoredFile
from runapi_mcp.sandbox.http_io import authenticate, base_url, json_limit, origin, read_body, read_json
from runapi_mcp.sandbox.login import login_routes
from runapi_mcp.sandbox.middleware import FAULT_SCOPE_KEY, SandboxMiddleware, format_seconds
from runapi_mcp.sandbox.pricing import etag, etag_matches, price_quote, schedules_body
from runapi_mcp.sandbox.prompts import prompt_routes
from runapi_mcp.sandbox.render import render_placeholder_png
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.validation import (
    check_idempotency_key,
    json_object,
    parse_confirm,
    parse_create,
    parse_file_create,
    parse_prepare,
)

_ME = {
    "id": 1,
    "name": "Sandbox User",
    "email": "sandbox@runapi-mcp.invalid",
    "account": {"id": 1, "name": "RunAPI sandbox"},
}


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """A RunAPI-compatible ASGI app; its state (ledger, tasks, faults, clock) is `app.state.sandbox`."""
    state = SandboxState(config or SandboxConfig())
    api = _Api(state)
    routes = [
        Route("/api/v1/gpt_image_2/{action}", api.create_task, methods=["POST"]),
        Route("/api/v1/gpt_image_2/{action}/{task_id}", api.task_status, methods=["GET"]),
        Route("/api/v1/price_schedules", api.price_schedules, methods=["GET"]),
        Route("/api/v1/price_quotes", api.price_quotes, methods=["POST"]),
        Route("/api/v1/me", api.me, methods=["GET"]),
        Route("/api/v1/me/balance", api.balance, methods=["GET"]),
        Route("/api/v1/files", api.create_file, methods=["POST"]),
        Route("/api/v1/files/prepare", api.prepare_upload, methods=["POST"]),
        Route("/api/v1/files/confirm", api.confirm_upload, methods=["POST"]),
        Route("/uploads/{token}", api.receive_upload, methods=["PUT"]),
        Route("/files/{file_id}/{name:path}", api.download, methods=["GET"]),
        Route("/_sandbox", api.info, methods=["GET"]),
        Route("/_sandbox/ledger", api.ledger, methods=["GET"]),
        Route("/_sandbox/faults", api.faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/clock", api.clock, methods=["POST"]),
        Route("/_sandbox/balance", api.set_balance, methods=["POST"]),
        *login_routes(state), *prompt_routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SandboxMiddleware, state=state)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.sandbox = state
    return app


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal_error", "The sandbox hit an unexpected error; see its log.")


class _Api:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.config = state.config
        self.json_limit = json_limit(state.config)

    # -- GPT Image 2 tasks ------------------------------------------------------------------------------

    @staticmethod
    def _action(request: Request) -> str:
        action: str = request.path_params["action"]
        if action not in ACTIONS:
            raise ApiError(404, "not_found", f"Unknown gpt_image_2 action {action!r}.")
        return action

    async def create_task(self, request: Request) -> Response:
        action = self._action(request)
        authenticate(request, self.config)
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        payload = await read_json(request, self.json_limit)
        create = parse_create(action, payload)
        fault = cast(Fault | None, request.scope.get(FAULT_SCOPE_KEY))
        task, replayed = self.state.create_task(create, payload, key, fault, origin(request))
        headers = {"X-RunAPI-Task-Id": task.id}
        body: dict[str, Any] = {"id": task.id, "status": "pending"}
        if replayed:
            body["status"] = task.status_at(self.state.now())
            body["task_replayed"] = True
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body, headers=headers)

    async def task_status(self, request: Request) -> Response:
        action = self._action(request)
        authenticate(request, self.config)
        task = self.state.task(action, request.path_params["task_id"])
        body = self.state.status_json(task, base_url(request))
        headers = {"X-RunAPI-Task-Id": task.id}
        if body["status"] in ("pending", "processing") and self.config.status_retry_after is not None:
            headers["Retry-After"] = format_seconds(self.config.status_retry_after)
        return JSONResponse(body, headers=headers)

    # -- pricing and account ----------------------------------------------------------------------------

    async def price_schedules(self, request: Request) -> Response:
        query = request.query_params
        body = schedules_body(query.get("service"), query.get("action"), query.get("model"))
        tag = etag(body)
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if etag_matches(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    async def price_quotes(self, request: Request) -> Response:
        authenticate(request, self.config)
        return JSONResponse(price_quote(await read_json(request, self.json_limit)))

    async def me(self, request: Request) -> Response:
        authenticate(request, self.config)
        return JSONResponse(_ME)

    async def balance(self, request: Request) -> Response:
        authenticate(request, self.config)
        now = self.state.now()
        ledger = self.state.ledger
        today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        return JSONResponse(
            {
                "balance_cents": ledger.balance_cents,
                "paid_balance_cents": ledger.balance_cents,
                "bonus_balance_cents": 0,
                "spent_cents_today": ledger.settled_since(today),
                "spent_cents_total": ledger.settled_cents,
            }
        )

    # -- temporary files --------------------------------------------------------------------------------

    async def create_file(self, request: Request) -> Response:
        authenticate(request, self.config)
        source, file_name = parse_file_create(await read_json(request, self.json_limit))
        now = self.state.now()
        if source.kind == "base64":
            try:
                if is_data_uri(source.value):
                    declared, data = decode_data_uri(source.value)
                else:
                    declared, data = None, decode_base64(source.value)
            except ValueError:
                raise ApiError(422, "validation_failed", "source.data is not valid base64.") from None
            if not data:
                raise ApiError(422, "validation_failed", "source.data is empty.")
            if len(data) > self.config.max_file_bytes:
                raise ApiError(413, "file_too_large", f"The file exceeds {self.config.max_file_bytes} bytes.")
            mime = sniff_image_mime(data) or declared or "application/octet-stream"
            stored = self.state.files.add(file_name or "upload" + extension_for(mime), mime, now, data=data)
        else:
            stored = await self._file_from_url(source.value, file_name, request, now)
        return JSONResponse(stored.temp_file_json(base_url(request)))

    async def _file_from_url(self, url: str, file_name: str | None, request: Request, now: float) -> StoredFile:
        """The sandbox never fetches the network: its own URLs are copied, others become marked placeholders."""
        own_id = self.state.own_file_id(url, origin(request))
        name = file_name or PurePosixPath(urlsplit(url).path).name or "remote-file"
        if own_id is not None:
            original = self.state.files.find(own_id)
            if original is None or now >= original.expires_at:
                why = "was not found" if original is None else "has expired"
                raise ApiError(422, "source_unavailable", f"Could not download source.url: the URL {why}.")
            data = await self.state.file_bytes(original)
            return self.state.files.add(file_name or original.name, original.mime_type, now, data=data)
        host = urlsplit(url).hostname or "?"
        label = f"outside image\n{host}\nnot fetched by the sandbox"
        data = await anyio.to_thread.run_sync(render_placeholder_png, label)
        return self.state.files.add(name, "image/png", now, data=data)

    async def prepare_upload(self, request: Request) -> Response:
        authenticate(request, self.config)
        prepare = parse_prepare(await read_json(request, self.json_limit), self.config.max_file_bytes)
        pending = self.state.files.prepare(prepare)
        return JSONResponse(
            {
                "signed_id": pending.signed_id,
                "upload_url": f"{base_url(request)}/uploads/{pending.token}",
                "headers": pending.headers(),
            }
        )

    async def receive_upload(self, request: Request) -> Response:
        pending = self.state.files.pending_upload(request.path_params["token"])
        body = await read_body(request, self.config.max_file_bytes)
        self.state.files.check_upload(pending, request.headers, body)
        pending.data = body
        return Response(status_code=200, headers={"ETag": '"' + hashlib.md5(body).hexdigest() + '"'})

    async def confirm_upload(self, request: Request) -> Response:
        authenticate(request, self.config)
        signed_id = parse_confirm(await read_json(request, self.json_limit))
        stored = self.state.files.confirm(signed_id, self.state.now())
        return JSONResponse(stored.temp_file_json(base_url(request)))

    async def download(self, request: Request) -> Response:
        stored = self.state.files.live(request.path_params["file_id"], self.state.now())
        if request.path_params["name"] != stored.name:
            raise ApiError(404, "not_found", "No such file.")
        data = await self.state.file_bytes(stored)
        return Response(data, media_type=stored.mime_type, headers={"Cache-Control": "private, no-transform"})

    # -- controls ---------------------------------------------------------------------------------------

    async def info(self, request: Request) -> Response:
        config = self.config
        return JSONResponse(
            {
                "sandbox": True,
                "now": iso(self.state.now()),
                "config": {
                    "latency": config.latency,
                    "balance_cents": config.balance_cents,
                    "url_ttl": config.url_ttl,
                    "keys": "any" if config.accepted_keys is None else f"{len(config.accepted_keys)} configured",
                    "seed": config.seed,
                    "status_retry_after": config.status_retry_after,
                },
            }
        )

    async def ledger(self, request: Request) -> Response:
        return JSONResponse(self.state.ledger_json())

    async def faults(self, request: Request) -> Response:
        queue = self.state.faults
        if request.method == "DELETE":
            queue.clear()
        elif request.method == "POST":
            body = json_object(await read_json(request, self.json_limit))
            items = body.get("faults", [body] if "fault" in body else None)
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in cast(list[Any], items)):
                raise ApiError(
                    422, "validation_failed", 'Send {"faults": [{"fault": ..., "method": ..., "path": ...}]}.'
                )
            try:
                queue.push(cast(list[dict[str, Any]], items))
            except ValueError as exc:
                raise ApiError(422, "invalid_fault", str(exc)) from None
        return JSONResponse({"faults": queue.pending()})

    async def clock(self, request: Request) -> Response:
        body = json_object(await read_json(request, self.json_limit))
        seconds = body.get("advance")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 10**9:
            raise ApiError(422, "validation_failed", "advance must be a non-negative number of seconds.")
        self.state.clock.advance(float(seconds))
        return JSONResponse({"now": iso(self.state.now())})

    async def set_balance(self, request: Request) -> Response:
        body = json_object(await read_json(request, self.json_limit))
        cents = body.get("balance_cents")
        if isinstance(cents, bool) or not isinstance(cents, int) or cents < 0:
            raise ApiError(422, "validation_failed", "balance_cents must be a non-negative integer.")
        self.state.ledger.set_balance(cents)
        return JSONResponse({"balance_cents": self.state.ledger.balance_cents})
