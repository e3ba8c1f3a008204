"""Applies client_profile's decision on the wire: tools/list and tools/call, per connection."""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from runapi_mcp.server.client_profile import ResultShape, StructuredSetting, result_shape, shape_result, shape_tools

log = logging.getLogger(__name__)


def connection_shape(ctx: ServerRequestContext[Any, Any], setting: StructuredSetting) -> ResultShape:
    """The shape for this request's connection, from what the client declared at initialize (or, on
    2026-07-28 connections, in every request's envelope). Cheap and pure, so it is not cached."""
    session = ctx.session
    params = session.client_params
    info = params.client_info if params is not None else None
    capabilities = session.client_capabilities
    shape = result_shape(
        info.name if info is not None else None,
        info.version if info is not None else None,
        capabilities.model_dump(exclude_none=True) if capabilities is not None else None,
        ctx.protocol_version,
        setting,
    )
    log.debug("results for %s: structured=%s (%s)", info.name if info else "?", shape.structured, shape.reason)
    return shape


class ResultShapeMiddleware:
    """Drops outputSchema and structuredContent for clients where they would displace text and image."""

    def __init__(self, setting: StructuredSetting) -> None:
        self._setting: StructuredSetting = setting

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method not in ("tools/list", "tools/call") or result is None:
            return result
        shape = connection_shape(ctx, self._setting)
        if ctx.method == "tools/call":
            return shape_result(result, shape)
        tools: Any = result.get("tools") if isinstance(result, dict) else getattr(result, "tools", None)
        if not isinstance(tools, list) or shape.output_schema:
            return result
        shaped = shape_tools(tools, shape)  # pyright: ignore[reportUnknownArgumentType]
        if isinstance(result, dict):
            return {**result, "tools": shaped}
        return result.model_copy(update={"tools": shaped})
