"""The MCP Apps image viewer: a `ui://` page hosts render beside generate/edit/get_task results, its app-only
tools, and the gate that keeps all of it invisible to clients that did not declare MCP Apps.

Hooks into the server: `MCPServer(extensions=[viewer_extension()], middleware=[AppsGate(...)])`.
"""

from __future__ import annotations

from runapi_mcp.server.viewer.app_tools import APP_ONLY_TOOLS, viewer_extension
from runapi_mcp.server.viewer.gate import LINKED_TOOLS, VIEWER_URI, AppsGate

__all__ = ["APP_ONLY_TOOLS", "LINKED_TOOLS", "VIEWER_URI", "AppsGate", "viewer_extension"]
