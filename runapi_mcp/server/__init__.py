"""The MCP face of runapi-mcp: tools, resources, the result envelope and the transports."""

from runapi_mcp.server.app import build_server

__all__ = ["build_server"]
