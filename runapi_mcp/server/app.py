"""build_server(settings): the MCPServer with its tools, resources and lifespan."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, Tool
from pydantic import ValidationError as PydanticValidationError

from runapi_mcp import __version__
from runapi_mcp.core.errors import CoreError
from runapi_mcp.server.errors import explain_arguments
from runapi_mcp.server.schema import compact_schema, inline_refs
from runapi_mcp.server.state import AppState, open_state
from runapi_mcp.server.tools import register_tools, request_key
from runapi_mcp.server.viewer import install_viewer_gate, viewer_extensions
from runapi_mcp.settings import Settings

INSTRUCTIONS = """\
GPT Image 2 via RunAPI. Images cost money: check get_pricing before big jobs; start with count=1.
Results are saved as PNGs in the project (paths in the text); URLs expire in 7 days.
An unfinished task: continue with get_task(task_id, wait=true), never create it again. A create with no \
answer: call it again with the same idempotency_key (no double charge).
To edit a result, pass images=["task:<task_id>"] to edit_image."""


class RunAPIMCPServer(MCPServer[AppState]):
    async def list_tools(self) -> list[Tool]:
        tools = await super().list_tools()
        return [
            tool.model_copy(
                update={
                    "input_schema": compact_schema(tool.input_schema),
                    "output_schema": _compact_output(tool.output_schema),
                }
            )
            for tool in tools
        ]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> Any:
        if self._tool_input_schema(name) is None:
            # A name that is no tool is a malformed request (a JSON-RPC error), not a failed tool run.
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {name}")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            # The SDK reports bad arguments as pydantic's multi-line dump; agents need one line.
            if isinstance(exc.__cause__, PydanticValidationError):
                raise ToolError(explain_arguments(exc.__cause__)) from exc.__cause__
            raise


def _compact_output(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    return compact_schema(inline_refs(schema), descriptions=False) if schema else None


def build_server(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> RunAPIMCPServer:
    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncGenerator[AppState]:
        async with open_state(settings, transport=transport) as state:
            yield state

    mcp = RunAPIMCPServer(
        "runapi",
        title="RunAPI GPT Image 2",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level if settings.log_level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO",
        extensions=viewer_extensions(),  # the MCP Apps viewer
    )
    install_viewer_gate(mcp)  # clients without MCP Apps never see the viewer
    register_tools(mcp, structured=settings.structured_output)
    _register_resources(mcp)
    return mcp


def _register_resources(mcp: RunAPIMCPServer) -> None:
    @mcp.resource("runapi://tasks/{task_id}", name="task", mime_type="application/json")
    async def task_resource(task_id: str, ctx: Context[AppState, Any]) -> str:
        """A task from the history: parameters, status, saved files, URLs."""
        entry = await _service(ctx).task_entry(task_id)
        if entry is None:
            raise ResourceError(f"No task '{task_id}' in the task history.")
        return json.dumps(
            {
                "task_id": entry.task_id,
                "action": entry.action,
                "status": entry.status,
                "params": entry.params,
                "images": entry.images,
                "error": entry.error,
                "cost_usd": None if entry.cost_cents is None else entry.cost_cents / 100,
            },
            indent=2,
        )

    @mcp.resource("runapi://tasks/{task_id}/images/{index}", name="task-image", mime_type="image/png")
    async def image_resource(task_id: str, index: int, ctx: Context[AppState, Any]) -> bytes:
        """A saved result image, as PNG bytes."""
        try:
            return await _service(ctx).image_bytes(task_id, index)
        except CoreError as exc:
            raise ResourceError(str(exc)) from exc


def _service(ctx: Context[AppState, Any]):  # type: ignore[no-untyped-def]
    state: AppState = ctx.request_context.lifespan_context
    try:
        return state.service(request_key(ctx, state))
    except ToolError as exc:
        raise ResourceError(str(exc)) from exc


__all__ = ["INSTRUCTIONS", "CallToolResult", "build_server"]
