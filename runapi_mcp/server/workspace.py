"""Where a call may read and write, from the settings and, on stdio, the client's MCP roots.

Hosts differ in the working directory they give a server (Claude Desktop starts it in `/`); a client
that offers roots names the real workspace, so its first root becomes the working directory then.

A multi-tenant HTTP server (per-request keys) gives each key a folder of its own under the state
directory, and that folder is all its calls may read or write: no tenant reaches another's files.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning
from pydantic import SecretStr

from runapi_mcp.core.jobs import owner_id
from runapi_mcp.core.types import Workspace
from runapi_mcp.runapi.errors import RunAPIError
from runapi_mcp.server.bearer import bearer_token
from runapi_mcp.server.errors import explain
from runapi_mcp.settings import Settings

log = logging.getLogger(__name__)

ROOTS_TIMEOUT_SECONDS = 2.0


async def workspace_for(ctx: Context[Any, Any], settings: Settings) -> Workspace:
    if settings.http_auth == "per-request":
        return await _tenant_workspace(ctx, settings)
    roots = await _client_roots(ctx) if settings.transport == "stdio" else []
    working_dir = settings.working_dir
    if roots and not _usable(working_dir):
        working_dir = roots[0]
    # The fallback folder holds our own results: editing them must be allowed too.
    extra = (settings.fallback_output_dir,) if settings.fallback_output_dir.is_dir() else ()
    return Workspace(working_dir=working_dir, roots=(working_dir, *settings.allowed_roots, *roots, *extra))


async def _tenant_workspace(ctx: Context[Any, Any], settings: Settings) -> Workspace:
    token = bearer_token(ctx.headers)
    if token is None:
        raise ValueError("per-request auth without a bearer key reached a tool")  # BearerGuard lets none through
    state = ctx.request_context.lifespan_context
    try:
        # Nothing (folder, journal row, upload) is kept for a key RunAPI has not accepted.
        await state.accepted_keys.check(state.client, SecretStr(token))
    except RunAPIError as exc:
        raise ToolError(explain(exc, base_url=settings.base_url)) from None
    folder = settings.state_dir / "tenants" / owner_id(token)
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True, mode=0o700)
    return Workspace(working_dir=folder, roots=(folder,))


def _usable(path: Path) -> bool:
    return path != Path(path.anchor) and os.access(path, os.W_OK)


async def _client_roots(ctx: Context[Any, Any]) -> list[Path]:
    caps = ctx.client_capabilities
    if caps is None or caps.roots is None:
        return []
    try:
        with anyio.fail_after(ROOTS_TIMEOUT_SECONDS), warnings.catch_warnings():
            # Deprecated from protocol 2026-07-28 on, but still how 2025-era clients name their workspace.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            result = await ctx.session.list_roots()  # pyright: ignore[reportDeprecated]
    except Exception as exc:  # roots are a hint; a client that fails to answer must not fail the call
        log.info("could not list the client's roots: %s", exc)
        return []
    uris = [str(root.uri) for root in result.roots]
    return await anyio.to_thread.run_sync(_local_dirs, uris)


def _local_dirs(uris: list[str]) -> list[Path]:
    paths: list[Path] = []
    for uri in uris:
        parsed = urlparse(uri)
        if parsed.scheme == "file" and parsed.path:
            path = Path(unquote(parsed.path))
            if path.is_dir():
                paths.append(path.resolve())
    return paths
