"""What a tool call that needs a key meets when none is set: a sign-in offer, never a request to paste a key.

Clients that take URL elicitation are handed RunAPI's sign-in page that way (2025-era connections: an
`elicitation/create` request; 2026-07-28: an `InputRequiredResult`), and the call returns at once with
what to do next. Every other client gets the no-key text and the `runapi-mcp login` command. Before each
call the key is refreshed from the config file, so the call after a sign-in simply works.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
    TextContent,
)
from mcp.types.version import is_version_at_least

from runapi_mcp.login.errors import LoginError
from runapi_mcp.server.errors import NO_KEY
from runapi_mcp.server.host_login import HostLogin, PendingLogin
from runapi_mcp.server.state import AppState

LOGIN_COMMAND_HINT = "Or sign in from a terminal with: runapi-mcp login (then call again)."
_ELICITATION_KEY = "runapi_sign_in"
_INPUT_REQUIRED_VERSION = "2026-07-28"


class SignInGate(MCPServer[AppState]):
    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        state = _state(context)
        if state is not None:
            state.refresh_key()
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if context is None or state is None or not _is_missing_key(exc):
                raise
            return await _offer_sign_in(context, state, name)


async def _offer_sign_in(
    ctx: Context[AppState, Any], state: AppState, tool: str
) -> CallToolResult | InputRequiredResult:
    login = state.host_login
    if login is None or not _takes_url_elicitation(ctx):
        return _not_done(f"{NO_KEY} {LOGIN_COMMAND_HINT}")
    try:
        return await _elicit_sign_in(ctx, state, tool, login)
    except (LoginError, OSError) as exc:  # e.g. a config folder that cannot be written: say so, not crash
        return _not_done(f"Cannot sign in from here: {exc} {NO_KEY}")


async def _elicit_sign_in(
    ctx: Context[AppState, Any], state: AppState, tool: str, login: HostLogin
) -> CallToolResult | InputRequiredResult:
    if _uses_input_required(ctx):
        answer = (ctx.input_responses or {}).get(_ELICITATION_KEY)
        if answer is None:
            pending = await login.begin()
            request = ElicitRequest(params=ElicitRequestURLParams(message=_ask(pending), url=pending.url))
            return InputRequiredResult(input_requests={_ELICITATION_KEY: request})
        action = answer.action if isinstance(answer, ElicitResult) else "cancel"
        pending = await login.begin()
    else:
        pending = await login.begin()
        action = (await ctx.elicit_url(_ask(pending), pending.url, pending.elicitation_id)).action
        if action == "accept":
            session, elicitation_id = ctx.request_context.session, pending.elicitation_id
            pending.on_success.append(lambda: session.send_elicit_complete(elicitation_id))
    if action != "accept":
        login.cancel(pending)
        return _not_done(f"Sign-in was not accepted. {NO_KEY} {LOGIN_COMMAND_HINT}")
    return _not_done(
        f"Not done yet: the user is signing in to RunAPI in the browser (code {pending.display_code}). Once they "
        f"approve, call {tool} again: the key is saved to {state.settings.config_file} and used automatically. "
        f"If no page opened, they can open {pending.url} on this machine, or run: runapi-mcp login"
    )


def _ask(pending: PendingLogin) -> str:
    return (
        f"Sign in to RunAPI so runapi-mcp can make images for you. Check that the page shows the code "
        f"{pending.display_code}, then approve; the key is saved on this computer, never shown in the chat."
    )


def _not_done(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _state(context: Context[AppState, Any] | None) -> AppState | None:
    if context is None:
        return None
    try:
        return context.request_context.lifespan_context
    except ValueError:  # outside a request
        return None


def _is_missing_key(exc: BaseException) -> bool:
    # The SDK wraps a tool's ToolError in its own ("Error executing tool ..."); the original is the cause.
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ToolError) and str(seen) == NO_KEY:
            return True
        seen = seen.__cause__
    return False


def _takes_url_elicitation(ctx: Context[AppState, Any]) -> bool:
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and elicitation.url is not None


def _uses_input_required(ctx: Context[AppState, Any]) -> bool:
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, _INPUT_REQUIRED_VERSION)
