"""build_server(settings): the MCPServer with its tools, resources and lifespan."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import httpx2
from mcp.server import MCPServer

from runapi_mcp import __version__
from runapi_mcp.server.login_gate import SignInGate
from runapi_mcp.server.middleware import ToolSurface
from runapi_mcp.server.prompts import PromptLibrary
from runapi_mcp.server.request_state import request_state_security
from runapi_mcp.server.resources import register_resources
from runapi_mcp.server.result_shaping import ResultShaping
from runapi_mcp.server.state import AppState, open_state
from runapi_mcp.server.tools import register_tools
from runapi_mcp.server.viewer import install_viewer_gate, viewer_extensions
from runapi_mcp.settings import Settings

# Codex shows only the first line, cut at 250 characters, until a tool search: the essentials go there.
INSTRUCTIONS = """\
GPT Image 2 via RunAPI, paid per image (start with count=1; get_pricing for big jobs); PNGs are saved in the \
project; finish a task with get_task(task_id, wait=true), never create it again; edit a result: \
images=["task:<task_id>"].
A create with no answer: call it again with the same idempotency_key (no double charge). URLs expire in 7 days."""


def build_server(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> MCPServer[AppState]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncGenerator[AppState]:
        async with open_state(settings, transport=transport) as state:
            yield state

    mcp = MCPServer[AppState](
        "runapi",
        title="RunAPI GPT Image 2",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        request_state_security=request_state_security(settings),
        log_level=settings.log_level if settings.log_level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO",
        extensions=viewer_extensions(),  # the MCP Apps viewer
    )
    shaping = ResultShaping(settings.structured_output)  # what each client's results carry: client_profile.py
    surface = ToolSurface(mcp.list_tools, shaping.structured_for, wait_for=settings.core_config().wait_budget)
    mcp.middleware.extend([surface, shaping])
    mcp.middleware.extend((SignInGate(), PromptLibrary()))  # inside ToolSurface: tools/list stays as it is
    install_viewer_gate(mcp)  # clients without MCP Apps never see the viewer
    register_tools(mcp)
    register_resources(mcp)
    return mcp


__all__ = ["INSTRUCTIONS", "build_server"]
