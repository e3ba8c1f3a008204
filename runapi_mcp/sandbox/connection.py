"""Dropping a client connection without an answer, which ASGI cannot express: done on uvicorn's transport."""

from __future__ import annotations

import socket
import struct
from typing import Any

import uvicorn
from starlette.types import Scope

from runapi_mcp.sandbox.state import ConnectionDropper


def uvicorn_dropper(server: uvicorn.Server) -> ConnectionDropper:
    """Find the connection serving a scope by its client address and close it (or reset it: TCP RST)."""

    def drop(scope: Scope, reset: bool) -> bool:
        client = scope.get("client")
        if not client:
            return False
        wanted = tuple(client)
        for connection in list(server.server_state.connections):
            if getattr(connection, "client", None) != wanted:
                continue
            transport: Any = getattr(connection, "transport", None)
            if transport is None:
                return False
            if reset:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # Linger 0 makes close() send RST instead of FIN: the client sees "connection reset".
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                transport.close()
            return True
        return False

    return drop
