"""The cold-start baseline: a bare one-tool MCPServer on the same SDK, served over stdio."""

from mcp.server import MCPServer

mcp = MCPServer("bare")


@mcp.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    mcp.run("stdio")
