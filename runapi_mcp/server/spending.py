"""Asking the user before an expensive call: a `Resolve` dependency of generate_image and edit_image.

A call estimated above RUNAPI_MCP_CONFIRM_ABOVE is put to the user as a form elicitation (the SDK sends it
as a standalone request on 2025-era connections and as an input-required result on 2026-07-28 ones) and
runs only when the user accepts and confirms. A client without form elicitation gets a refusal with the
next step. The spend limits themselves are enforced again, authoritatively, when the tasks are reserved
(core/spending.py); checking them here first means nobody is asked to approve a call that will be refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Elicit, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field, SecretStr

from runapi_mcp.core.errors import CoreError
from runapi_mcp.core.jobs import owner_id
from runapi_mcp.core.journal import Journal
from runapi_mcp.core.service import ImageService
from runapi_mcp.runapi.models import Action
from runapi_mcp.server.deps import AppContext, app_state, caller_key, paid_service


class SpendConfirmation(BaseModel):
    confirm: bool = Field(default=False, title="Confirm", description="Run this paid call.")


class SpendApproval(BaseModel):
    """What the tool receives: the call may spend (it was below the threshold, or the user confirmed it)."""

    asked: bool = False


@dataclass(frozen=True)
class PlannedCall:
    action: Action
    resolution: str | None
    count: int
    idempotency_key: str | None


async def _ask(
    ctx: AppContext, service: ImageService, key: SecretStr | None, call: PlannedCall
) -> Elicit[SpendConfirmation] | SpendApproval:
    # Spending and pricing are imported at the call: tools/list, every session's first answer, needs neither.
    from runapi_mcp.core import pricing, spending

    state = app_state(ctx)
    threshold = spending.SpendLimits.of(state.core).confirm_above
    if threshold is None:
        return SpendApproval()
    count = await _fresh_tasks(state.journal, key, call)
    if count == 0:
        return SpendApproval()  # a retry of tasks that exist: nothing new is charged
    action, resolution = call.action, call.resolution
    planned = await spending.estimate(state.client, action, resolution, count)
    if planned.total_cents <= threshold * 100 + 1e-6:
        return SpendApproval()
    try:
        # Refused anyway: say so now rather than ask the user to approve it.
        spending.check_per_call(planned, spending.SpendLimits.of(state.core))
        spending.check_budget(planned, await service.spent_today())
    except CoreError as exc:
        raise ToolError(str(exc)) from exc
    price = spending.usd(planned.total_cents)
    if not _can_ask(ctx):
        raise ToolError(
            f"This call would cost about {price} ({planned.what}), above the {spending.usd(threshold * 100)} that "
            f"needs the user's confirmation ({spending.CONFIRM_SETTING}), and this client cannot ask for it (no form "
            f"elicitation). Nothing was created: ask the user, then lower count or output_resolution, or have them "
            f"raise {spending.CONFIRM_SETTING} in this server's settings."
        )
    # The same words every round: a 2026-07-28 client's answer counts only for the question it was asked.
    size = resolution or pricing.DEFAULT_RESOLUTION
    tool = "generate_image" if action == "text_to_image" else "edit_image"
    return Elicit(
        f"{tool} will create {count} x {size} image at {spending.usd(planned.per_task_cents)} each: about {price} "
        f"on your RunAPI account. Run it?",
        SpendConfirmation,
    )


async def _fresh_tasks(journal: Journal, key: SecretStr | None, call: PlannedCall) -> int:
    """How many of the call's tasks may be created (and charged): all of them without an idempotency key."""
    from runapi_mcp.core import spending

    if not call.idempotency_key:
        return call.count
    owner = owner_id(key.get_secret_value()) if key is not None else None
    keys = spending.call_keys(call.idempotency_key, call.count)
    rows = [await journal.get_by_key(k, owner=owner) for k in keys]
    return sum(1 for row in rows if spending.may_charge(row))


def _can_ask(ctx: AppContext) -> bool:
    """Form elicitation declared (a bare `elicitation: {}` predates modes and means form)."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def ask_for_generate(
    ctx: AppContext,
    service: Annotated[ImageService, Resolve(paid_service)],
    key: Annotated[SecretStr | None, Resolve(caller_key)],
    count: int,
    output_resolution: str | None,
    idempotency_key: str | None,
) -> Elicit[SpendConfirmation] | SpendApproval:
    return await _ask(ctx, service, key, PlannedCall("text_to_image", output_resolution, count, idempotency_key))


async def ask_for_edit(
    ctx: AppContext,
    service: Annotated[ImageService, Resolve(paid_service)],
    key: Annotated[SecretStr | None, Resolve(caller_key)],
    output_resolution: str | None,
    idempotency_key: str | None,
) -> Elicit[SpendConfirmation] | SpendApproval:
    return await _ask(ctx, service, key, PlannedCall("edit_image", output_resolution, 1, idempotency_key))


def _approval(answer: ElicitationResult[SpendConfirmation]) -> SpendApproval:
    if isinstance(answer, AcceptedElicitation):
        # The user's answer, or the resolver's own SpendApproval when it did not need to ask.
        data = cast(object, answer.data)
        if isinstance(data, SpendApproval):
            return data
        if isinstance(data, SpendConfirmation) and data.confirm:
            return SpendApproval(asked=True)
    raise ToolError(
        "The user did not approve this paid call; nothing was created. Ask the user before trying again, or "
        "lower count or output_resolution."
    )


async def generate_approval(
    answer: Annotated[ElicitationResult[SpendConfirmation], Resolve(ask_for_generate)],
) -> SpendApproval:
    return _approval(answer)


async def edit_approval(
    answer: Annotated[ElicitationResult[SpendConfirmation], Resolve(ask_for_edit)],
) -> SpendApproval:
    return _approval(answer)


GenerateApproval = Annotated[SpendApproval, Resolve(generate_approval)]
EditApproval = Annotated[SpendApproval, Resolve(edit_approval)]


async def balance_line(service: ImageService) -> str:
    """get_balance's sentence on this server's own spend today against the daily budget."""
    from runapi_mcp.core import spending

    today = await service.spent_today()
    if today.budget_cents is None:
        return f"No daily budget is set here ({spending.BUDGET_SETTING})."
    return (
        f"Through this server today ({today.day}, UTC): {spending.usd(today.spent_cents)} spent or reserved of the "
        f"{spending.usd(today.budget_cents)} daily budget, {spending.usd(today.left_cents or 0)} left."
    )
