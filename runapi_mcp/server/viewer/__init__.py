"""The MCP Apps image viewer: a `ui://` page hosts render beside generate/edit/get_task results, its app-only
tools, and the gate that keeps all of it invisible to clients that did not declare MCP Apps.

Hooks into the server: `MCPServer(..., extensions=viewer_extensions())`, then `install_viewer_gate(server)`.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.extension import Extension

from runapi_mcp.server.viewer.app_tools import APP_ONLY_TOOLS, viewer_extension
from runapi_mcp.server.viewer.gate import LINKED_TOOLS, VIEWER_URI, AppsGate


def viewer_extensions() -> list[Extension]:
    """The extensions the server is built with: the MCP Apps one that carries the viewer."""
    return [viewer_extension()]


def install_viewer_gate(server: MCPServer[Any]) -> None:
    """Put the gate in the server's middleware chain: per client, it shows or hides the viewer."""
    server.middleware.append(AppsGate(APP_ONLY_TOOLS))


__all__ = [
    "APP_ONLY_TOOLS",
    "LINKED_TOOLS",
    "VIEWER_URI",
    "AppsGate",
    "install_viewer_gate",
    "viewer_extension",
    "viewer_extensions",
]
