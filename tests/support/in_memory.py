"""The server in the test's own process, reached through the SDK's in-memory `Client(server)`: no transport."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from mcp import Client

# connect(**env) opens a client on a fresh server; keyword arguments become environment settings.
ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]
