"""RunAPI's GPT Image 2 task endpoints, pricing and account, as the sandbox answers them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runapi_mcp.runapi.models import ACTIONS
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.faults import Fault
from runapi_mcp.sandbox.http_io import authenticate, base_url, json_limit, origin, read_json
from runapi_mcp.sandbox.middleware import FAULT_SCOPE_KEY, format_seconds
from runapi_mcp.sandbox.pricing import etag, etag_matches, price_quote, schedules_body
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.validation import check_idempotency_key, parse_create

ME = {
    "id": 1,
    "name": "Sandbox User",
    "email": "sandbox@runapi-mcp.invalid",
    "account": {"id": 1, "name": "RunAPI sandbox"},
    "sandbox": True,
}


def scoped_fault(request: Request) -> Fault | None:
    """The fault the middleware left for the handler to apply (a task, status-read or download fault)."""
    return cast(Fault | None, request.scope.get(FAULT_SCOPE_KEY))


class TaskRoutes:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.config = state.config
        self.json_limit = json_limit(state.config)

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
        task, replayed = self.state.create_task(create, payload, key, scoped_fault(request), origin(request))
        await self.state.saved()  # answered only once a restart would still know the task, its key and charge
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
            headers["Retry-After"] = format_seconds(self.config.wall_seconds(self.config.status_retry_after))
        fault = scoped_fault(request)
        if fault is not None and fault.is_read_fault:
            self.state.injected[fault.label] += 1
            if fault.kind == "no-images" and "images" in body:
                body["images"] = []
            elif fault.kind == "unknown-status":
                body["status"] = fault.variant
            elif fault.kind == "empty-status":
                body["status"] = ""
            elif fault.kind == "tiny-retry-after":
                seconds = fault.seconds if fault.seconds is not None else self.config.tiny_retry_after
                headers["Retry-After"] = format_seconds(seconds)
        return JSONResponse(body, headers=headers)

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
        return JSONResponse(ME)

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
                # Not in RunAPI's answer: marks the balance as the sandbox's play money (clients keep unknown fields).
                "sandbox": True,
            }
        )
