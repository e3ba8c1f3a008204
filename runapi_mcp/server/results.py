"""The one result shape for generate_image, edit_image and get_task.

Text first and complete on its own (hosts differ in what else they show), then one small preview per
image, a resource link per image, and structured content matching the published output schema, itself
complete without the text (next step, notes). What of this each client receives is decided per client
(client_profile.py) and applied at the wire.
"""

from __future__ import annotations

import base64
from pathlib import Path

from mcp.types import CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent
from pydantic import BaseModel, Field

from runapi_mcp.core.types import JobOutcome, SavedImage, TaskOutcome


class ImageInfo(BaseModel):
    # The position in `images` is the index in runapi://tasks/{task_id}/images/{index}.
    path: str | None = None
    url: str | None = None
    url_expires_at: str | None = None
    width: int | None = None
    height: int | None = None


class TaskInfo(BaseModel):
    task_id: str | None = None
    idempotency_key: str
    # pending, processing, completed, failed, or unknown (a create that got no answer)
    status: str
    images: list[ImageInfo] = Field(default_factory=list[ImageInfo])
    cost_usd: float | None = None
    # charged, estimated, or not billed
    cost_basis: str | None = None
    error: str | None = None
    # the tool to call next, if any: get_task, or the create again with the same idempotency_key
    next_action: str | None = None
    # the same in words, as the text says it
    next_step: str | None = None


class ImageJobResult(BaseModel):
    tasks: list[TaskInfo]
    output_dir: str | None = None
    # what the text says beside the tasks, e.g. the sandbox mark: complete without the text
    notes: list[str] = Field(default_factory=list[str])


def image_uri(task_id: str, index: int) -> str:
    return f"runapi://tasks/{task_id}/images/{index}"


SANDBOX_NOTE = "SANDBOX: these images are placeholders from the local RunAPI sandbox, not real generations."


def build_result(job: JobOutcome, *, working_dir: Path, structured: bool) -> CallToolResult:
    lines: list[str] = [SANDBOX_NOTE] if job.sandbox else []
    for task in job.tasks:
        lines.extend(_task_lines(task, working_dir, hosted=job.hosted))
    lines.extend(job.notes)
    content: list[ContentBlock] = [TextContent(type="text", text="\n".join(lines))]
    for task in job.tasks:
        for image in task.images:
            if image.preview is not None:
                content.append(
                    ImageContent(
                        type="image",
                        data=base64.b64encode(image.preview.data).decode("ascii"),
                        mime_type=image.preview.mime_type,
                    )
                )
    for task in job.tasks:
        if task.task_id is None:
            continue
        for image in task.images:
            if image.path is not None or (job.hosted and image.size_bytes is not None):
                content.append(
                    ResourceLink(
                        type="resource_link",
                        uri=image_uri(task.task_id, image.index),
                        name=image.path.name if image.path else f"{task.task_id}-{image.index}.png",
                        mime_type=image.content_type or "image/png",
                        size=image.size_bytes,
                    )
                )
    structured_content = _structured(job).model_dump(mode="json", exclude_none=True) if structured else None
    return CallToolResult(content=content, structured_content=structured_content)


def _task_lines(task: TaskOutcome, working_dir: Path, *, hosted: bool) -> list[str]:
    tid = task.task_id or "(no id yet)"
    head = f"Task {tid}: {task.status}"
    if task.replayed:
        head += " (existing task reused, not charged again)"
    lines = [head + "."]
    for image in task.images:
        lines.append(_hosted_line(task, image) if hosted else _image_line(image, working_dir))
    if task.cost is not None and task.cost.usd is not None:
        detail = f" ({task.cost.detail})" if task.cost.detail else ""
        lines.append(f"  Cost: ${task.cost.usd:.2f} {task.cost.basis}{detail}.")
    if task.error:
        lines.append(f"  Error: {task.error}")
    if task.note:
        lines.append(f"  Note: {task.note[:1].upper()}{task.note[1:]}.")
    if step := _next_step(task):
        lines.append(f"  Next: {step}.")
    return lines


def _next_step(task: TaskOutcome) -> str | None:
    if task.next_hint:
        return task.next_hint
    if task.status == "completed" and task.task_id and task.images:
        # The id is on the task's first line; repeating it would cost ~20 tokens per result.
        return 'to edit it, pass images=["task:<task id>"] to edit_image'
    return None


def _image_line(image: SavedImage, working_dir: Path) -> str:
    size = f"{image.width}x{image.height}" if image.width and image.height else "size unknown"
    parts = [f"  Image {image.index}:"]
    if image.path is not None:
        parts.append(f"saved to {_display_path(image.path, working_dir)} ({size}).")
    else:
        parts.append(f"not saved locally ({image.save_error or 'download skipped'}).")
    if image.note:
        parts.append(image.note[:1].upper() + image.note[1:] + ".")
    if image.url:
        expiry = f", expires {image.url_expires_at}" if image.url_expires_at else ""
        parts.append(f"URL: {image.url}{expiry}")
    return " ".join(parts)


def _hosted_line(task: TaskOutcome, image: SavedImage) -> str:
    """A hosted image as a remote agent can use it: the resource any replica serves, and RunAPI's URL (public,
    no key needed) until it expires. No path: the server's disk is not the agent's."""
    size = f"{image.width}x{image.height}" if image.width and image.height else "size unknown"
    parts = [f"  Image {image.index} ({size}):"]
    if task.task_id and (image.size_bytes is not None or image.url):
        parts.append(f"read it as resource {image_uri(task.task_id, image.index)}.")
    if image.save_error:
        parts.append(f"Not stored ({image.save_error}).")
    if image.url:
        expiry = f" until {image.url_expires_at}" if image.url_expires_at else ""
        parts.append(f"Download URL (no key needed){expiry}: {image.url}")
    return " ".join(parts)


def _display_path(path: Path, working_dir: Path) -> str:
    try:
        return str(path.relative_to(working_dir))
    except ValueError:
        return str(path)


def _structured(job: JobOutcome) -> ImageJobResult:
    return ImageJobResult(
        tasks=[
            TaskInfo(
                task_id=t.task_id,
                idempotency_key=t.idempotency_key,
                status=t.status,
                images=[
                    ImageInfo(
                        path=str(i.path) if i.path else None,
                        url=i.url,
                        url_expires_at=i.url_expires_at,
                        width=i.width,
                        height=i.height,
                    )
                    for i in t.images
                ],
                cost_usd=t.cost.usd if t.cost else None,
                cost_basis=t.cost.basis if t.cost else None,
                error=t.error,
                next_action=t.next_action,
                next_step=_next_step(t),
            )
            for t in job.tasks
        ],
        output_dir=str(job.output_dir) if job.output_dir and not job.hosted else None,
        notes=([SANDBOX_NOTE] if job.sandbox else [])
        + list(job.notes)
        + [f"task {t.task_id or t.idempotency_key}: {t.note}" for t in job.tasks if t.note],
    )
