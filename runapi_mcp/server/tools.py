"""The six tools. Names, parameters and their meaning are a contract: see the README's tool reference."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from runapi_mcp.core.errors import CoreError
from runapi_mcp.core.jobs import ImageJob
from runapi_mcp.core.journal import MAY_EXIST_WITHOUT_ID
from runapi_mcp.core.progress import ProgressFn
from runapi_mcp.core.types import JobOutcome
from runapi_mcp.runapi.errors import RunAPIError
from runapi_mcp.runapi.models import AspectRatio, OutputResolution
from runapi_mcp.server.deps import AppContext, CallWorkspace, FreeService, PaidService, app_state
from runapi_mcp.server.errors import explain
from runapi_mcp.server.middleware import DEFAULT_WAIT_TEXT
from runapi_mcp.server.results import ImageJobResult, build_result
from runapi_mcp.server.spending import EditApproval, GenerateApproval, balance_line
from runapi_mcp.server.state import AppState
from runapi_mcp.text import shorten

Prompt = Annotated[str, Field(min_length=1, description="What to draw.")]
Ratio = Annotated[AspectRatio | None, Field(description="Default auto.")]
Resolution = Annotated[OutputResolution | None, Field(description="Per image: 1k $0.06 (default), 2k $0.10, 4k $0.16.")]
PricedResolution = Annotated[OutputResolution | None, Field(description="Default 1k.")]
Wait = Annotated[
    bool, Field(description=f"Default true: wait up to {DEFAULT_WAIT_TEXT}; false returns the task id at once.")
]
OutputDirArg = Annotated[str | None, Field(description="Default ./runapi-images.")]
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


# The three tools that return images also publish an output schema; the ToolSurface middleware decides
# per client whether it and structuredContent are sent.
ImageResult = Annotated[CallToolResult, ImageJobResult]


def register_tools(mcp: MCPServer[AppState]) -> None:
    async def generate_image(
        ctx: AppContext,
        service: PaidService,
        workspace: CallWorkspace,
        approval: GenerateApproval,  # asks the user first when the estimate passes RUNAPI_MCP_CONFIRM_ABOVE
        prompt: Prompt,
        aspect_ratio: Ratio = None,
        output_resolution: Resolution = None,
        count: Annotated[int, Field(ge=1, le=4, description="1-4 (default 1), one paid task each.")] = 1,
        wait: Wait = True,
        output_dir: OutputDirArg = None,
        idempotency_key: Key = None,
    ) -> ImageResult:
        """Text to image with GPT Image 2, paid per image. Saves PNGs in the project."""

        def job() -> ImageJob:
            return ImageJob(
                action="text_to_image",
                prompt=prompt,
                aspect_ratio=aspect_ratio,
                output_resolution=output_resolution,
                count=count,
                wait=wait,
                output_dir=output_dir,
                idempotency_key=idempotency_key,
            )

        return await _answer(ctx, lambda: service.run(job(), workspace, _progress(ctx)), workspace.working_dir)

    async def edit_image(
        ctx: AppContext,
        service: PaidService,
        workspace: CallWorkspace,
        approval: EditApproval,
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
        output_dir: OutputDirArg = None,
        idempotency_key: Key = None,
    ) -> ImageResult:
        """Edit or combine 1-16 images by instruction, paid per image. Saves PNGs in the project."""

        def job() -> ImageJob:
            return ImageJob(
                action="edit_image",
                prompt=prompt,
                aspect_ratio=aspect_ratio,
                output_resolution=output_resolution,
                images=tuple(images),
                wait=wait,
                output_dir=output_dir,
                idempotency_key=idempotency_key,
            )

        return await _answer(ctx, lambda: service.run(job(), workspace, _progress(ctx)), workspace.working_dir)

    async def get_task(
        ctx: AppContext,
        service: PaidService,
        workspace: CallWorkspace,
        task_id: Annotated[str, Field(min_length=1, max_length=512, description="From an earlier result.")],
        wait: Annotated[bool, Field(description=f"Default false; true waits up to {DEFAULT_WAIT_TEXT}.")] = False,
    ) -> ImageResult:
        """Status and results of a task (free); saves its images once done."""

        def follow() -> Awaitable[JobOutcome]:
            return service.get_task(task_id.strip(), wait=wait, workspace=workspace, progress=_progress(ctx))

        return await _answer(ctx, follow, workspace.working_dir)

    async def list_tasks(
        service: FreeService,
        limit: Annotated[int, Field(ge=1, le=100, description="1-100, default 10.")] = 10,
        status: Annotated[
            Literal["pending", "processing", "completed", "failed", "unknown"] | None,
            Field(),
        ] = None,
    ) -> str:
        """Recent tasks from the local history: ids, status, files. Free."""
        entries = await service.list_tasks(limit=limit, status=status)
        if not entries:
            return "No tasks yet." if status is None else f"No {status} tasks."
        lines: list[str] = []
        for e in entries:
            files = ", ".join(i.path for i in e.images if i.path) or "no files saved"
            # One line per task whatever the prompt holds: a line break in it must not forge another entry.
            prompt = shorten(e.params.prompt, 60).replace('"', "'")
            tid = e.task_id or f"(no id; idempotency_key {e.idempotency_key})"
            line = f'{tid} {e.action} {e.status} "{prompt}" {files}'
            if e.task_id is None and e.status in MAY_EXIST_WITHOUT_ID:
                # A create cut off before its answer (a killed process): the key finds the task, or makes it once.
                line += f"; next: get_task with task_id '{e.idempotency_key}' (resends the create, never pays twice)"
            lines.append(line)
        return "\n".join(lines)

    async def get_pricing(
        ctx: AppContext,
        action: Annotated[Literal["text_to_image", "edit_image"], Field()] = "text_to_image",
        output_resolution: PricedResolution = None,
        count: Annotated[int, Field(ge=1, le=100, description="1-100, default 1.")] = 1,
    ) -> str:
        """Prices per image by resolution and the estimate for a planned job. Free."""
        from runapi_mcp.core import pricing  # at the call: tools/list, every session's first answer, needs none

        table = await pricing.price_table(app_state(ctx).client, action)
        prices = ", ".join(f"{r} ${c / 100:.2f}" for r, c in table.per_image_cents.items())
        resolution = output_resolution or pricing.DEFAULT_RESOLUTION
        total = table.cents_for(resolution) * count / 100
        return (
            f"GPT Image 2 {action}, per image: {prices} ({table.currency}; {table.source}). "
            f"Estimate for {count} x {resolution}: ${total:.2f}. Failed generations are not billed."
        )

    async def get_balance(ctx: AppContext, service: PaidService) -> str:
        """RunAPI account balance and spend. Free."""
        try:
            balance = await service.balance()
        except RunAPIError as exc:
            raise ToolError(explain(exc, base_url=app_state(ctx).settings.base_url)) from exc

        def usd(cents: float | None) -> str:
            return "unknown" if cents is None else f"${cents / 100:.2f}"

        return (
            f"Balance {usd(balance.balance_cents)} (paid {usd(balance.paid_balance_cents)}, "
            f"bonus {usd(balance.bonus_balance_cents)}); spent today {usd(balance.spent_cents_today)}, "
            f"in total {usd(balance.spent_cents_total)}. {await balance_line(service)}"
        )

    mcp.add_tool(generate_image, title="Generate image", annotations=_PAID)
    mcp.add_tool(edit_image, title="Edit image", annotations=_PAID)
    mcp.add_tool(get_task, title="Get task", annotations=_FOLLOW)
    mcp.add_tool(list_tasks, title="List tasks", annotations=_LOCAL, structured_output=False)
    mcp.add_tool(get_pricing, title="Get pricing", annotations=_LOOKUP, structured_output=False)
    mcp.add_tool(get_balance, title="Get balance", annotations=_LOOKUP, structured_output=False)


async def _answer(ctx: AppContext, flow: Callable[[], Awaitable[JobOutcome]], working_dir: Path) -> CallToolResult:
    """The one place a flow's failure becomes the tool's error, and its outcome the tool's result."""
    state = app_state(ctx)
    try:
        job = await flow()
    except (RunAPIError, CoreError) as exc:
        raise ToolError(explain(exc, base_url=state.settings.base_url)) from exc
    if job.all_failed:
        # Nothing usable came back: an error result the agent cannot mistake for success.
        return CallToolResult(content=[TextContent(type="text", text=failure_text(job, state))], is_error=True)
    return build_result(explained(job, state), working_dir=working_dir, structured=True)


def explained(job: JobOutcome, state: AppState) -> JobOutcome:
    """Each refused task's error in the server's own words (a 402 mid-batch says what to do, not RunAPI's text)."""
    base_url = state.settings.base_url
    tasks = tuple(
        replace(t, error=explain(t.cause, base_url=base_url)) if t.cause is not None else t for t in job.tasks
    )
    notes = (*job.notes, *state.sandbox_notes) if job.sandbox else job.notes
    return replace(job, tasks=tasks, notes=notes)


def failure_text(job: JobOutcome, state: AppState) -> str:
    """Why nothing usable came back, in words, with the next step: a refusal in the server's own explanation."""
    base_url = state.settings.base_url
    if len(job.tasks) == 1 and job.tasks[0].cause is not None:
        return explain(job.tasks[0].cause, base_url=base_url)
    lines: list[str] = []
    for t in job.tasks:
        why = explain(t.cause, base_url=base_url) if t.cause is not None else (t.error or "no detail")
        lines.append(f"Task {t.task_id or '(none)'} {t.status}: {why.rstrip('. ')}.")
    if any(t.status == "failed" for t in job.tasks):
        lines.append("Failed generations are not billed; adjust the prompt and try again.")
    lines.extend(f"Next: {t.next_hint.rstrip('. ')}." for t in job.tasks if t.next_hint)
    return " ".join(lines)


def _progress(ctx: AppContext) -> ProgressFn:
    async def report(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report
