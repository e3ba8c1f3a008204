"""The viewer's app-only tools (visibility ["app"]: the host lets the viewer call them, never the model).

They add no behaviour of their own: the full-size image and the task's facts come from the server's own
`runapi://tasks/...` resources, and edits and variations are calls of the public edit_image tool, so
billing, idempotency, workspaces and errors are exactly those of the tools the model uses.
"""

from __future__ import annotations

import base64
import json
import uuid
from importlib import resources
from typing import Annotated, Any, cast

import anyio
from mcp.server.apps import Apps
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from runapi_mcp.core.errors import InputError
from runapi_mcp.server.viewer.gate import VIEWER_URI

APP_ONLY_TOOLS = ("viewer_image", "viewer_edit", "viewer_variations")
DETAILS_META_KEY = "runapi-mcp/image"
# A full-size image travels base64 inside one JSON message through the host; past this it is sent scaled down.
MAX_INLINE_BYTES = 12 * 1024 * 1024
SCALED_SIDE = 4096
VARIATION_INSTRUCTION = "Make a variation of this image: keep its subject, composition and style; vary the details."

TaskId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
Index = Annotated[int, Field(ge=0, le=15)]
Key = Annotated[str | None, Field(max_length=400, description="Reuse to retry without paying twice.")]
_READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
_PAID = ToolAnnotations(destructive_hint=False)
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


def viewer_html() -> str:
    return resources.files("runapi_mcp.server.viewer").joinpath("viewer.html").read_text(encoding="utf-8")


def viewer_extension() -> Apps:
    apps = Apps()
    # No csp declared: the host's default (img-src 'self' data:, connect-src 'none') is all the page needs.
    apps.add_html_resource(
        VIEWER_URI,
        viewer_html(),
        name="image-viewer",
        title="Image viewer",
        description="Full-size view of generated images with variations, edits and download.",
        prefers_border=True,
    )

    def app_tool(annotations: ToolAnnotations) -> Any:
        return apps.tool(resource_uri=VIEWER_URI, visibility=["app"], structured_output=False, annotations=annotations)

    @app_tool(_READ)
    async def viewer_image(task_id: TaskId, ctx: Context[Any, Any], index: Index = 0) -> CallToolResult:
        """The saved image of a task at full size, with its prompt, size, cost and URL expiry."""
        task = await _task(ctx, task_id)
        data = await _read_bytes(ctx, f"runapi://tasks/{task_id}/images/{index}")
        images = _list(task.get("images"))
        record = _dict(images[index]) if index < len(images) else {}
        content_type, scaled = _sniff(data), False
        if len(data) > MAX_INLINE_BYTES:
            from runapi_mcp.core.images import make_preview_async  # only for the largest images

            try:
                preview = await make_preview_async(data, SCALED_SIDE, 90)
            except InputError as exc:
                raise ToolError(str(exc)) from exc
            data, content_type, scaled = preview.data, preview.mime_type, True
        params = _dict(task.get("params"))
        details: dict[str, Any] = {
            "task_id": task_id,
            "index": index,
            "action": task.get("action"),
            "status": task.get("status"),
            "prompt": params.get("prompt"),
            "aspect_ratio": params.get("aspect_ratio"),
            "output_resolution": params.get("output_resolution"),
            "width": record.get("width"),
            "height": record.get("height"),
            "size_bytes": record.get("size_bytes"),
            "path": record.get("path"),
            "url_expires_at": record.get("url_expires_at"),
            "cost_usd": task.get("cost_usd"),
            "content_type": content_type,
            "scaled_down": scaled,
        }
        text = f"Image {index} of task {task_id}" + (" (scaled down to send)" if scaled else "") + "."
        return CallToolResult(
            content=[
                TextContent(type="text", text=text),
                ImageContent(type="image", data=base64.b64encode(data).decode("ascii"), mime_type=content_type),
            ],
            structured_content=details,
            # Also in _meta, which the server never strips: with RUNAPI_MCP_STRUCTURED_OUTPUT=false the
            # structured content is dropped on the way out, and the viewer still needs the facts.
            _meta={DETAILS_META_KEY: details},
        )

    @app_tool(_PAID)
    async def viewer_edit(
        task_id: TaskId,
        instruction: Annotated[str, Field(min_length=1, description="The change to make.")],
        ctx: Context[Any, Any],
        index: Index = 0,
        idempotency_key: Key = None,
    ) -> CallToolResult:
        """Edit the shown image by instruction: an edit_image call with the image as a task: reference."""
        return await _edit(ctx, task_id, index, instruction, idempotency_key)

    @app_tool(_PAID)
    async def viewer_variations(
        task_id: TaskId,
        ctx: Context[Any, Any],
        index: Index = 0,
        count: Annotated[int, Field(ge=1, le=4, description="One paid edit each.")] = 1,
        idempotency_key: Key = None,
    ) -> CallToolResult:
        """`count` variations of the shown image (one edit_image task each) that keep its subject and style."""
        task = await _task(ctx, task_id)
        prompt = _dict(task.get("params")).get("prompt")
        instruction = VARIATION_INSTRUCTION + (f" The image shows: {prompt}" if prompt else "")
        base = idempotency_key or f"runapi-viewer-{uuid.uuid4()}"
        results: list[CallToolResult | str] = [""] * count

        async def one(position: int) -> None:
            try:
                results[position] = await _edit(ctx, task_id, index, instruction, f"{base}-v{position + 1}")
            except ToolError as exc:
                results[position] = str(exc)

        async with anyio.create_task_group() as group:
            for position in range(count):
                group.start_soon(one, position)
        return _merge(results)

    del viewer_image, viewer_edit, viewer_variations  # registered on `apps`; nothing else calls them
    return apps


async def _edit(ctx: Context[Any, Any], task_id: str, index: int, instruction: str, key: str | None) -> CallToolResult:
    reference = f"task:{task_id}" if index == 0 else f"task:{task_id}#{index}"
    arguments: dict[str, Any] = {"prompt": instruction, "images": [reference]}
    if key:
        arguments["idempotency_key"] = key
    result = await ctx.mcp_server.call_tool("edit_image", arguments, ctx)
    if not isinstance(result, CallToolResult):
        raise ToolError("edit_image asked for more input; run it from the conversation instead.")
    return result


def _merge(results: list[CallToolResult | str]) -> CallToolResult:
    """One result for several edits: their texts in one block, then every preview and link, tasks side by side."""
    texts: list[str] = []
    rest: list[ContentBlock] = []
    tasks: list[Any] = []
    failed = 0
    for result in results:
        if isinstance(result, str):
            texts.append(result)
            failed += 1
            continue
        failed += bool(result.is_error)
        for block in result.content:
            if isinstance(block, TextContent):
                texts.append(block.text)
            else:
                rest.append(block)
        tasks.extend(_list(_dict(result.structured_content).get("tasks")))
    structured = {"tasks": tasks} if tasks else None
    return CallToolResult(
        content=[TextContent(type="text", text="\n".join(texts)), *rest],
        structured_content=structured,
        is_error=failed == len(results),
    )


async def _task(ctx: Context[Any, Any], task_id: str) -> dict[str, Any]:
    try:
        contents = list(await ctx.read_resource(f"runapi://tasks/{task_id}"))
    except ResourceError as exc:
        raise ToolError(str(exc)) from exc
    text = contents[0].content if contents else ""
    return _dict(json.loads(text) if isinstance(text, str) and text else None)


async def _read_bytes(ctx: Context[Any, Any], uri: str) -> bytes:
    try:
        contents = list(await ctx.read_resource(uri))
    except ResourceError as exc:
        raise ToolError(str(exc)) from exc
    data = contents[0].content if contents else b""
    return data if isinstance(data, bytes) else data.encode()


def _sniff(data: bytes) -> str:
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    return "image/webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else "image/png"


def _dict(value: object) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return cast(list[Any], value) if isinstance(value, list) else []
