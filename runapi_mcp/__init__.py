"""runapi-mcp: an MCP server for RunAPI's GPT Image 2."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("runapi-mcp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
