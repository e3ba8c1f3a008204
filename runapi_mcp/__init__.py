"""runapi-mcp: an MCP server for RunAPI's GPT Image 2."""

# Kept in step with pyproject.toml by a test. A literal, not importlib.metadata: hosts start the server
# for every session, and reading the installed metadata costs start-up time.
__version__ = "0.1.0"
