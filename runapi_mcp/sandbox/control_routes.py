"""The `/_sandbox` controls: configuration, ledger, scripted faults, the clock, the balance, callbacks."""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runapi_mcp.sandbox.clock import iso
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.http_io import json_limit, read_json
from runapi_mcp.sandbox.ledger_view import ledger_json
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.validation import json_object


class ControlRoutes:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.config = state.config
        self.json_limit = json_limit(state.config)

    async def info(self, request: Request) -> Response:
        config = self.config
        return JSONResponse(
            {
                "sandbox": True,
                "now": iso(self.state.now()),
                "config": {
                    "latency": config.latency,
                    "task_durations": None if config.task_durations is None else str(config.task_durations),
                    "time_scale": config.time_scale,
                    "balance_cents": config.balance_cents,
                    "url_ttl": config.url_ttl,
                    "keys": "any" if config.accepted_keys is None else f"{len(config.accepted_keys)} configured",
                    "seed": config.seed,
                    "status_retry_after": config.status_retry_after,
                    "callback_any_host": config.callback_any_host,
                },
                # The sandbox's own play account: its signing secret is no secret worth keeping.
                "callback_secret": self.state.callbacks.secret,
                "state_file": None if self.state.state_file is None else str(self.state.state_file),
                "faults_injected": dict(sorted(self.state.injected.items())),
                "requests": dict(sorted(self.state.requests.items())),
            }
        )

    async def ledger(self, request: Request) -> Response:
        return JSONResponse(ledger_json(self.state))

    async def callbacks(self, request: Request) -> Response:
        self.state.now()
        callbacks = self.state.callbacks
        return JSONResponse({"pending": callbacks.pending, "deliveries": callbacks.log})

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
        self.state.advance(float(seconds))
        await self.state.saved()
        return JSONResponse({"now": iso(self.state.now())})

    async def set_balance(self, request: Request) -> Response:
        body = json_object(await read_json(request, self.json_limit))
        cents = body.get("balance_cents")
        if isinstance(cents, bool) or not isinstance(cents, int) or cents < 0:
            raise ApiError(422, "validation_failed", "balance_cents must be a non-negative integer.")
        self.state.set_balance(cents)
        await self.state.saved()
        return JSONResponse({"balance_cents": self.state.ledger.balance_cents})
