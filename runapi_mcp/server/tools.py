"""The six tools. Names, parameters and their meaning are a contract: see the README's tool reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, SecretStr

from runapi_mcp.core import pricing
from runapi_mcp.core.errors import CoreError
from runapi_mcp.core.jobs import ImageJob
from runapi_mcp.core.outcomes import JobOutcome
from runapi_mcp.core.progress import ProgressFn
from runapi_mcp.core.service import ImageService
from runapi_mcp.runapi.errors import RunAPIError
from runapi_mcp.runapi.models import AspectRatio, OutputResolution
from runapi_mcp.server.bearer import bearer_token
from runapi_mcp.server.errors import NO_KEY, explain
from runapi_mcp.server.results import ImageJobResult, build_result
from runapi_mcp.server.state import AppState
from runapi_mcp.server.workspace import workspace_for

Prompt = Annotated[str, Field(min_length=1, description="What to draw.")]
Ratio = Annotated[AspectRatio | None, Field(description="Default auto.")]
Resolution = Annotated[OutputResolution | None, Field(description="Per image: 1k $0.06 (default), 2k $0.10, 4k $0.16.")]
PricedResolution = Annotated[OutputResolution | None, Field(description="Default 1k.")]
Wait = Annotated[bool, Field(description="Default true: wait up to ~50 s; false returns the task id at once.")]
OutputDir = Annotated[str | None, Field(description="Default ./runapi-images.")]
Key = Annotated[
    str | None,
    Field(description="Reuse to retry without paying twice."),
]

# Only what differs from the protocol's defaults (read_only false, destructive true, idempotent false,
# open_world true): every byte of the tool list is paid for by every session.
_PAID = ToolAnnotations(destructive_hint=False)
_FOLLOW = ToolAnnotations(destructive_hint=False, idempotent_hint=True)
_LOOKUP = ToolAnnotations(read_only_hint=True, idempotent_hint=True)
_LOCAL = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def register_tools(mcp: MCPServer[AppState], *, structured: bool) -> None:
    structured_result = Annotated[CallToolResult, ImageJobResult] if structured else CallToolResult

    async def generate_image(
        prompt: Prompt,
        aspect_ratio: Ratio = None,
        output_resolution: Resolution = None,
        count: Annotated[int, Field(ge=1, le=4, description="1-4 (default 1), one paid task each.")] = 1,
        wait: Wait = True,
        output_dir: OutputDir = None,
        idempotency_key: Key = None,
        ctx: Context[AppState, Any] | None = None,
    ) -> CallToolResult:
        """Text to image with GPT Image 2, paid per image. Saves PNGs in the project."""
        return await _run_job(
            _ctx(ctx),
            structured,
            "text_to_image",
            prompt,
            aspect_ratio,
            output_resolution,
            count,
            (),
            wait,
            output_dir,
            idempotency_key,
        )

    async def edit_image(
        prompt: Annotated[str, Field(min_length=1, description="The change to make.")],
        images: Annotated[
            list[str],
            Field(
                min_length=1,
                max_length=16,
                description="1-16 of: local path, http(s)/file/data URI, task:<task_id>[#n].",
            ),
        ],
        aspect_ratio: Ratio = None,
        output_resolution: PricedResolution = None,
        wait: Wait = True,
        output_dir: OutputDir = None,
        idempotency_key: Key = None,
        ctx: Context[AppState, Any] | None = None,
    ) -> CallToolResult:
        """Edit or combine 1-16 images by instruction, paid per image. Saves PNGs in the project."""
        return await _run_job(
            _ctx(ctx),
            structured,
            "edit_image",
            prompt,
            aspect_ratio,
            output_resolution,
            1,
            tuple(images),
            wait,
            output_dir,
            idempotency_key,
        )

    async def get_task(
        task_id: Annotated[str, Field(min_length=1, max_length=100, description="From an earlier result.")],
        wait: Annotated[bool, Field(description="Default false; true waits up to ~50 s.")] = False,
        ctx: Context[AppState, Any] | None = None,
    ) -> CallToolResult:
        """Status and results of a task (free); saves its images once done."""
        context = _ctx(ctx)
        state, service = _service(context, need_key=True)
        try:
            job = await service.get_task(task_id.strip(), wait=wait, progress=_progress(context))
        except (RunAPIError, CoreError) as exc:
            raise ToolError(explain(exc, base_url=state.settings.base_url)) from exc
        return _finish(job, state, structured)

    async def list_tasks(
        limit: Annotated[int, Field(ge=1, le=100, description="1-100, default 10.")] = 10,
        status: Annotated[
            Literal["pending", "processing", "completed", "failed", "unknown"] | None,
            Field(),
        ] = None,
        ctx: Context[AppState, Any] | None = None,
    ) -> str:
        """Recent tasks from the local history: ids, status, files. Free."""
        _, service = _service(_ctx(ctx), need_key=False)
        entries = await service.list_tasks(limit=limit, status=status)
        if not entries:
            return "No tasks yet." if status is None else f"No {status} tasks."
        lines: list[str] = []
        for e in entries:
            files = ", ".join(str(i.get("path")) for i in e.images if i.get("path")) or "no files saved"
            prompt = str(e.params.get("prompt", ""))[:60]
            tid = e.task_id or f"(no id; idempotency_key {e.idempotency_key})"
            lines.append(f'{tid} {e.action} {e.status} "{prompt}" {files}')
        return "\n".join(lines)

    async def get_pricing(
        action: Annotated[Literal["text_to_image", "edit_image"], Field()] = "text_to_image",
        output_resolution: PricedResolution = None,
        count: Annotated[int, Field(ge=1, le=100, description="1-100, default 1.")] = 1,
        ctx: Context[AppState, Any] | None = None,
    ) -> str:
        """Prices per image by resolution and the estimate for a planned job. Free."""
        state, _ = _service(_ctx(ctx), need_key=False)
        table = await pricing.price_table(state.client, action)
        prices = ", ".join(f"{r} ${c / 100:.2f}" for r, c in table.per_image_cents.items())
        resolution = output_resolution or pricing.DEFAULT_RESOLUTION
        total = table.cents_for(resolution) * count / 100
        return (
            f"GPT Image 2 {action}, per image: {prices} ({table.currency}; {table.source}). "
            f"Estimate for {count} x {resolution}: ${total:.2f}. Failed generations are not billed."
        )

    async def get_balance(ctx: Context[AppState, Any] | None = None) -> str:
        """RunAPI account balance and spend. Free."""
        context = _ctx(ctx)
        state, service = _service(context, need_key=True)
        try:
            balance = await service.balance()
        except RunAPIError as exc:
            raise ToolError(explain(exc, base_url=state.settings.base_url)) from exc

        def usd(cents: float | None) -> str:
            return "unknown" if cents is None else f"${cents / 100:.2f}"

        return (
            f"Balance {usd(balance.balance_cents)} (paid {usd(balance.paid_balance_cents)}, "
            f"bonus {usd(balance.bonus_balance_cents)}); spent today {usd(balance.spent_cents_today)}, "
            f"in total {usd(balance.spent_cents_total)}."
        )

    for fn in (generate_image, edit_image, get_task):
        fn.__annotations__["return"] = structured_result
    mcp.add_tool(generate_image, title="Generate image", annotations=_PAID, structured_output=structured)
    mcp.add_tool(edit_image, title="Edit image", annotations=_PAID, structured_output=structured)
    mcp.add_tool(get_task, title="Get task", annotations=_FOLLOW, structured_output=structured)
    mcp.add_tool(list_tasks, title="List tasks", annotations=_LOCAL, structured_output=False)
    mcp.add_tool(get_pricing, title="Get pricing", annotations=_LOOKUP, structured_output=False)
    mcp.add_tool(get_balance, title="Get balance", annotations=_LOOKUP, structured_output=False)


def _ctx(ctx: Context[AppState, Any] | None) -> Context[AppState, Any]:
    if ctx is None:  # the SDK always injects it; None only means the tool was called outside a request
        raise RuntimeError("tool called outside an MCP request")
    return ctx


def _service(ctx: Context[AppState, Any], *, need_key: bool) -> tuple[AppState, ImageService]:
    state: AppState = ctx.request_context.lifespan_context
    key = request_key(ctx, state)
    if need_key and key is None and state.settings.api_key is None:
        raise ToolError(NO_KEY)
    return state, state.service(key)


def request_key(ctx: Context[AppState, Any], state: AppState) -> SecretStr | None:
    """In per-request auth mode each HTTP request brings its own RunAPI key as a bearer token."""
    if state.settings.http_auth != "per-request":
        return None
    token = bearer_token(ctx.headers)
    if token is None:
        raise ToolError("This server needs your RunAPI key on every request: send Authorization: Bearer <key>.")
    return SecretStr(token)


async def _run_job(ctx: Context[AppState, Any], structured: bool, *job_fields: Any) -> CallToolResult:
    state, service = _service(ctx, need_key=True)
    workspace = await workspace_for(ctx, state.settings)
    try:
        outcome = await service.run(ImageJob(*job_fields), workspace, _progress(ctx))
    except (RunAPIError, CoreError) as exc:
        raise ToolError(explain(exc, base_url=state.settings.base_url)) from exc
    return _finish(outcome, state, structured, working_dir=workspace.working_dir)


def _finish(outcome: JobOutcome, state: AppState, structured: bool, working_dir: Path | None = None) -> CallToolResult:
    tasks = outcome.tasks
    if tasks and all(t.status == "failed" or (t.task_id is None and t.status == "unknown") for t in tasks):
        # Nothing usable came back: an error result the agent cannot mistake for success.
        lines = [f"Task {t.task_id or '(none)'} {t.status}: {(t.error or 'no detail').rstrip('.')}." for t in tasks]
        if any(t.status == "failed" for t in tasks):
            lines.append("Failed generations are not billed; adjust the prompt and try again.")
        lines.extend(f"Next: {t.next_hint}." for t in tasks if t.next_hint)
        return CallToolResult(content=[TextContent(type="text", text=" ".join(lines))], is_error=True)
    return build_result(outcome, working_dir=working_dir or state.settings.working_dir, structured=structured)


def _progress(ctx: Context[AppState, Any]) -> ProgressFn:
    async def report(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report
