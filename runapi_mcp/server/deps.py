"""What a tool needs besides its arguments, resolved by the SDK before the tool body runs.

Tools declare these as `Annotated[T, Resolve(fn)]` parameters: they stay out of the input schema, and a
ToolError raised here reaches the model as the call's error text.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import SecretStr

from runapi_mcp.core.service import ImageService
from runapi_mcp.core.types import Workspace
from runapi_mcp.server.bearer import bearer_token
from runapi_mcp.server.errors import refuse_for_want_of_a_key
from runapi_mcp.server.state import AppState
from runapi_mcp.server.workspace import workspace_for

AppContext = Context[AppState, Any]


def app_state(ctx: AppContext) -> AppState:
    return ctx.request_context.lifespan_context


def caller_key(ctx: AppContext) -> SecretStr | None:
    """In per-request auth mode each HTTP request brings its own RunAPI key as a bearer token."""
    state = app_state(ctx)
    if state.settings.http_auth != "per-request":
        return None
    token = bearer_token(ctx.headers)
    if token is None:
        raise ToolError("This server needs your RunAPI key on every request: send Authorization: Bearer <key>.")
    return SecretStr(token)


def free_service(ctx: AppContext, key: Annotated[SecretStr | None, Resolve(caller_key)]) -> ImageService:
    """The flow for calls that need no key (the local history, list prices)."""
    return app_state(ctx).service(key)


def paid_service(ctx: AppContext, key: Annotated[SecretStr | None, Resolve(caller_key)]) -> ImageService:
    """The flow for calls that reach RunAPI with a key: refused with the next step when there is none."""
    state = app_state(ctx)
    if key is None and state.settings.api_key is None:
        refuse_for_want_of_a_key()
    return state.service(key, host=client_name(ctx))


def client_name(ctx: AppContext) -> str | None:
    """The host's name as it introduced itself (MCP clientInfo): it picks the host's wait budget."""
    try:
        params = ctx.session.client_params
    except (ValueError, AttributeError):
        return None
    info = params.client_info if params is not None else None
    return info.name if info is not None else None


async def call_workspace(ctx: AppContext) -> Workspace:
    """Where this call may read and write: the same answer for generate, edit and get_task."""
    return await workspace_for(ctx, app_state(ctx).settings)


FreeService = Annotated[ImageService, Resolve(free_service)]
PaidService = Annotated[ImageService, Resolve(paid_service)]
CallWorkspace = Annotated[Workspace, Resolve(call_workspace)]
