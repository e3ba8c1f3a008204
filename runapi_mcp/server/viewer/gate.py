"""Per-client view of the tool list: the viewer exists only for clients that declared MCP Apps.

A client without Apps sees exactly the server it saw before the viewer existed: no app-only tools in
tools/list (and calling one is the same error as calling any unknown tool), no `_meta.ui` link on the
image tools, no `ui://` resource in resources/list. A client with Apps gets the link on generate_image,
edit_image and get_task, so its host renders their results in the viewer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcp.server.apps import client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

VIEWER_URI = "ui://runapi/viewer.html"
LINKED_TOOLS = ("generate_image", "edit_image", "get_task")


class AppsGate:
    def __init__(self, app_only: Iterable[str], linked: Iterable[str] = LINKED_TOOLS, uri: str = VIEWER_URI) -> None:
        self._app_only = frozenset(app_only)
        self._linked = frozenset(linked)
        self._uri = uri

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call":
            name = (ctx.params or {}).get("name")
            if name in self._app_only and not client_supports_apps(ctx):
                raise MCPError(INVALID_PARAMS, f"Unknown tool: {name}")
            return await call_next(ctx)
        result = await call_next(ctx)
        # Handlers' results reach middleware already shaped for the wire: plain dicts.
        if not isinstance(result, dict) or ctx.method not in ("tools/list", "resources/list"):
            return result
        apps = client_supports_apps(ctx)
        if ctx.method == "tools/list":
            return {**result, "tools": self._tools(_items(result, "tools"), apps=apps)}
        if apps:
            return result
        kept = [r for r in _items(result, "resources") if not str(r.get("uri", "")).startswith("ui://")]
        return {**result, "resources": kept}

    def _tools(self, tools: list[dict[str, Any]], *, apps: bool) -> list[dict[str, Any]]:
        if not apps:
            return [t for t in tools if t.get("name") not in self._app_only]
        return [self._link(t) if t.get("name") in self._linked else t for t in tools]

    def _link(self, tool: dict[str, Any]) -> dict[str, Any]:
        meta: dict[str, Any] = dict(tool.get("_meta") or {})
        meta["ui"] = {**(meta.get("ui") or {}), "resourceUri": self._uri}
        return {**tool, "_meta": meta}


def _items(result: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = result.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]  # pyright: ignore[reportUnknownVariableType]
