"""6. Tokens per result: a whole generate_image result, for count 1 and count 4.

Counted the way a host pays for it: every text the model may see (the text block, the structured
content, the resource links, as JSON) at about four characters per token, plus each preview image at
width x height / 750. Counting the structured content as well as the text is the pessimistic reading:
some hosts pass only one of them to the model. The baseline is the whole task JSON as text, the way
RunAPI's own MCP server answers (it sends no image, so the model cannot look at the result).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import anyio
import httpx2
from mcp.types import ImageContent, ResourceLink, TextContent
from PIL import Image

from bench.common import (
    API_KEY,
    REPO,
    Row,
    RunConfig,
    Section,
    child_process,
    image_tokens,
    server_env,
    stdio_params,
    stdio_session,
    text_tokens,
)

MAX_PER_IMAGE = 1200


def count_tokens(result: Any) -> tuple[float, float, list[tuple[int, int]]]:
    """(text tokens, image tokens, preview sizes) of a CallToolResult."""
    chars = 0
    sizes: list[tuple[int, int]] = []
    for block in result.content:
        if isinstance(block, TextContent):
            chars += len(block.text)
        elif isinstance(block, ImageContent):
            with Image.open(io.BytesIO(base64.b64decode(block.data))) as image:
                sizes.append(image.size)
        elif isinstance(block, ResourceLink):
            chars += len(json.dumps(block.model_dump(mode="json", by_alias=True, exclude_none=True)))
        else:
            chars += len(json.dumps(block.model_dump(mode="json", by_alias=True, exclude_none=True)))
    if result.structured_content is not None:
        chars += len(json.dumps(result.structured_content))
    return text_tokens(chars), sum(image_tokens(w, h) for w, h in sizes), sizes


async def run(cfg: RunConfig) -> Section:
    with anyio.fail_after(180):  # bounded: a stuck call fails the run instead of hanging it
        return await _run(cfg)


async def _run(cfg: RunConfig) -> Section:
    section = Section()
    logs = cfg.folder("tokens")
    async with child_process(["-m", "bench.sandbox_proc"], env=None, cwd=REPO, log=logs / "sandbox.log") as sandbox:
        env = server_env(cfg, "tokens", sandbox.url, RUNAPI_MCP_WAIT_SECONDS="60")
        params = stdio_params(cfg, "tokens", ["-m", "runapi_mcp"], env)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with (logs / "server.log").open("a", encoding="utf-8") as log:
            async with (
                stdio_session(params, log) as client,
                httpx2.AsyncClient(base_url=sandbox.url, headers=headers, timeout=30) as http,
            ):
                for count in (1, 4):
                    result = await client.call_tool(
                        "generate_image", {"prompt": "a watercolour fox in a snowy forest", "count": count}
                    )
                    tasks = (result.structured_content or {}).get("tasks", [])
                    if result.is_error or [t.get("status") for t in tasks] != ["completed"] * count:
                        raise RuntimeError(f"generate_image count={count} did not complete")
                    text, images, sizes = count_tokens(result)
                    total = text + images
                    baseline = 0.0
                    for task in tasks:
                        status = (await http.get(f"/api/v1/gpt_image_2/text_to_image/{task['task_id']}")).json()
                        answer = {"task_id": task["task_id"], "status": status["status"], "result": status}
                        baseline += text_tokens(len(json.dumps(answer, indent=2)))
                    per_image = total / count
                    dims = ", ".join(sorted({f"{w}x{h}" for w, h in sizes})) or "none"
                    section.rows.append(
                        Row(
                            f"6. tokens per generate_image result, count {count}",
                            f"{total:.0f} ({per_image:.0f}/image: text {text / count:.0f} + preview "
                            f"{images / count:.0f}, {dims})",
                            f"task JSON only {baseline:.0f} (no image)",
                            f"≤ {MAX_PER_IMAGE:,} per image",
                            per_image <= MAX_PER_IMAGE,
                        )
                    )
    section.notes.append(
        "6. Default settings (1k images, previews `auto` = longest side 512 px, structured output on). Text = text "
        "block + structuredContent + resource links as JSON, at 4 characters per token; images at w x h / 750."
    )
    return section
