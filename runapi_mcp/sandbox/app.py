"""The sandbox's HTTP face: RunAPI's endpoints, the upload and download URLs, and the `/_sandbox` controls."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.control_routes import ControlRoutes
from runapi_mcp.sandbox.errors import ApiError, api_error_response, error_response
from runapi_mcp.sandbox.file_routes import FileRoutes
from runapi_mcp.sandbox.login import login_routes
from runapi_mcp.sandbox.middleware import SandboxMiddleware
from runapi_mcp.sandbox.prompts import prompt_routes
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.task_routes import TaskRoutes


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """A RunAPI-compatible ASGI app; its state (ledger, tasks, faults, clock) is `app.state.sandbox`.

    Callbacks and tasks finishing on time need the background loop (`background.run_background`), which
    `running_sandbox` starts; without it tasks still finish when they are next read.
    """
    state = SandboxState(config or SandboxConfig())
    tasks, files, controls = TaskRoutes(state), FileRoutes(state), ControlRoutes(state)
    routes = [
        Route("/api/v1/gpt_image_2/{action}", tasks.create_task, methods=["POST"]),
        Route("/api/v1/gpt_image_2/{action}/{task_id}", tasks.task_status, methods=["GET"]),
        Route("/api/v1/price_schedules", tasks.price_schedules, methods=["GET"]),
        Route("/api/v1/price_quotes", tasks.price_quotes, methods=["POST"]),
        Route("/api/v1/me", tasks.me, methods=["GET"]),
        Route("/api/v1/me/balance", tasks.balance, methods=["GET"]),
        Route("/api/v1/files", files.create_file, methods=["POST"]),
        Route("/api/v1/files/prepare", files.prepare_upload, methods=["POST"]),
        Route("/api/v1/files/confirm", files.confirm_upload, methods=["POST"]),
        Route("/uploads/{token}", files.receive_upload, methods=["PUT"]),
        Route("/files/{file_id}/{name:path}", files.download, methods=["GET"]),
        Route("/_sandbox", controls.info, methods=["GET"]),
        Route("/_sandbox/ledger", controls.ledger, methods=["GET"]),
        Route("/_sandbox/faults", controls.faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/clock", controls.clock, methods=["POST"]),
        Route("/_sandbox/balance", controls.set_balance, methods=["POST"]),
        Route("/_sandbox/callbacks", controls.callbacks, methods=["GET"]),
        *login_routes(state),
        *prompt_routes(),
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
