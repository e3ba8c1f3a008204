"""Applies client_profile's decision on the wire, per connection.

ToolSurface (middleware.py) asks `structured_for` whether a client gets structuredContent and output
schemas; this middleware, placed inside it, drops resource links for hosts that only turn them into text.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from runapi_mcp.server.client_profile import ResultShape, StructuredSetting, result_shape, shape_result

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


class ResultShaping:
    def __init__(self, setting: StructuredSetting) -> None:
        self._setting: StructuredSetting = setting

    def structured_for(self, ctx: ServerRequestContext[Any, Any]) -> bool:
        return connection_shape(ctx, self._setting).structured

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/call" or result is None:
            return result
        shape = connection_shape(ctx, self._setting)
        # Structured content stays for ToolSurface to decide on; only the links are this tier's job.
        return shape_result(result, ResultShape(True, True, shape.reason, resource_links=shape.resource_links))
