"""Resources: a task from the history as JSON, and its saved images as blobs."""

from __future__ import annotations

import json

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from runapi_mcp.core.errors import CoreError
from runapi_mcp.core.service import ImageService
from runapi_mcp.server.deps import AppContext, app_state, caller_key
from runapi_mcp.server.state import AppState


def register_resources(mcp: MCPServer[AppState]) -> None:
    @mcp.resource("runapi://tasks/{task_id}", name="task", mime_type="application/json")
    async def task_resource(task_id: str, ctx: AppContext) -> str:
        """A task from the history: parameters, status, saved files, URLs."""
        entry = await _service(ctx).task_entry(task_id)
        if entry is None:
            raise ResourceError(f"No task '{task_id}' in the task history.")
        return json.dumps(
            {
                "task_id": entry.task_id,
                "action": entry.action,
                "status": entry.status,
                "params": entry.params.model_dump(mode="json"),
                "images": [image.model_dump(mode="json") for image in entry.images],
                "error": entry.error,
                "cost_usd": None if entry.cost_cents is None else entry.cost_cents / 100,
            },
            indent=2,
        )

    @mcp.resource("runapi://tasks/{task_id}/images/{index}", name="task-image", mime_type="image/png")
    async def image_resource(task_id: str, index: int, ctx: AppContext) -> bytes:
        """A saved result image, as PNG bytes."""
        try:
            return await _service(ctx).image_bytes(task_id, index)
        except CoreError as exc:
            raise ResourceError(str(exc)) from exc


def _service(ctx: AppContext) -> ImageService:
    try:
        return app_state(ctx).service(caller_key(ctx))
    except ToolError as exc:
        raise ResourceError(str(exc)) from exc
