"""The shared test harness: environments and settings, sandboxes, server processes, in-process HTTP.

- `environments`: the environment variables and `Settings` every test world starts from.
- `sandboxes`: the RunAPI sandbox, in the test's event loop or on its own thread (for server subprocesses).
- `processes`: the real server as a child process, on port 0, its URL read from what it announces.
- `mcp_http`: the HTTP transport in process (an ASGI transport, no socket) or on a loopback socket, and
  MCP clients for it.
"""
