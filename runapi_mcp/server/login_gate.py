"""What a tool call that needs a key meets when none is set: a sign-in offer, never a request to paste a key.

An SDK middleware on tools/call. Before each call it refreshes the key from the config file, so the call
after a sign-in simply works. When a tool refuses for want of a key, clients that take URL elicitation
are handed RunAPI's sign-in page (2025-era connections: an `elicitation/create` request; 2026-07-28: an
`InputRequiredResult`) and the call returns at once with what to do next; every other client gets the
no-key text and the `runapi-mcp login` command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
    TextContent,
)
from mcp.types.version import is_version_at_least
from pydantic import ValidationError

from runapi_mcp.login.errors import LoginError
from runapi_mcp.server.errors import NO_KEY, watching_for_no_key
from runapi_mcp.server.host_login import HostLogin, PendingLogin
from runapi_mcp.server.state import AppState

LOGIN_COMMAND_HINT = "Or sign in from a terminal with: runapi-mcp login (then call again)."
_ELICITATION_KEY = "runapi_sign_in"
_INPUT_REQUIRED_VERSION = "2026-07-28"

Ctx = ServerRequestContext[AppState, Any]


class SignInGate:
    async def __call__(self, ctx: Ctx, call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        state = ctx.lifespan_context
        state.refresh_key()
        with watching_for_no_key() as refused:
            result = await call_next(ctx)
        if not refused:
            return result
        tool = str((ctx.params or {}).get("name", "the tool"))
        return await _offer_sign_in(ctx, state, tool)


async def _offer_sign_in(ctx: Ctx, state: AppState, tool: str) -> HandlerResult:
    login = state.host_login
    if login is None or not _takes_url_elicitation(ctx):
        return _not_done(f"{NO_KEY} {LOGIN_COMMAND_HINT}")
    try:
        return await _elicit_sign_in(ctx, state, tool, login)
    except (LoginError, OSError) as exc:  # e.g. a config folder that cannot be written: say so, not crash
        return _not_done(f"Cannot sign in from here: {exc} {NO_KEY}")


async def _elicit_sign_in(ctx: Ctx, state: AppState, tool: str, login: HostLogin) -> HandlerResult:
    if is_version_at_least(ctx.protocol_version, _INPUT_REQUIRED_VERSION):
        answer = _answer(ctx.params)
        if answer is None:
            pending = await login.begin()
            request = ElicitRequest(params=ElicitRequestURLParams(message=_ask(pending), url=pending.url))
            return InputRequiredResult(input_requests={_ELICITATION_KEY: request})
        action = answer.action
        pending = await login.begin()
    else:
        pending = await login.begin()
        session = ctx.session
        elicitation_id = pending.elicitation_id
        result = await session.elicit_url(_ask(pending), pending.url, elicitation_id, related_request_id=ctx.request_id)
        action = result.action
        if action == "accept":
            pending.on_success.append(lambda: session.send_elicit_complete(elicitation_id))
    if action != "accept":
        login.cancel(pending)
        return _not_done(f"Sign-in was not accepted. {NO_KEY} {LOGIN_COMMAND_HINT}")
    return _not_done(
        f"Not done yet: the user is signing in to RunAPI in the browser (code {pending.display_code}). Once they "
        f"approve, call {tool} again: the key is saved to {state.settings.config_file} and used automatically. "
        f"If no page opened, they can open {pending.url} on this machine, or run: runapi-mcp login"
    )


def _answer(params: Mapping[str, Any] | None) -> ElicitResult | None:
    """The client's reply to our elicitation, on the retry of a 2026-07-28 call."""
    responses: Any = (params or {}).get("inputResponses")
    if not isinstance(responses, Mapping):
        return None
    raw: Any = cast(Mapping[str, Any], responses).get(_ELICITATION_KEY)
    if raw is None:
        return None
    try:
        return ElicitResult.model_validate(raw)
    except ValidationError:
        return ElicitResult(action="cancel")


def _ask(pending: PendingLogin) -> str:
    return (
        f"Sign in to RunAPI so runapi-mcp can make images for you. Check that the page shows the code "
        f"{pending.display_code}, then approve; the key is saved on this computer, never shown in the chat."
    )


def _not_done(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _takes_url_elicitation(ctx: Ctx) -> bool:
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and elicitation.url is not None
