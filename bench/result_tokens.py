"""6. Tokens: the context tax (tool list + instructions) and whole generate_image results, count 1 and 4.

Counted with the o200k_base tokenizer (bench/o200k.py, ranks from the npm package js-tiktoken) on what a
host may pass to the model: every text block, each resource link as JSON (Codex's form, the longer one)
and the structured content when the result has it; each preview at width x height / 750 (Anthropic's
published estimate for images). "Host" is the shape Claude Code and Codex get (clientInfo claude-code);
the baseline is the shape the MCP Python SDK's own client gets, measured in the same run: output schemas,
structured content and resource links, as every client got them before results were shaped per client.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, ImageContent, Implementation, TextContent, Tool
from PIL import Image

from bench import o200k
from bench.common import REPO, Row, RunConfig, Section, child_process, server_env, stdio_params

MAX_PER_IMAGE = 1200
# What a host sees (issue 10): the tool list as Claude Code receives it plus the instructions, and one result.
MAX_CONTEXT_TAX = 1100
MAX_ONE_IMAGE_RESULT = 550
HOST_CLIENT = Implementation(name="claude-code", version="2.1.332")


def context_tax(tools: list[Tool], instructions: str) -> tuple[int, int]:
    """(tool list, instructions) in o200k_base tokens, the tool list as compact wire JSON."""
    wire = json.dumps(
        [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools], separators=(",", ":")
    )
    return o200k.count(wire), o200k.count(instructions)


def result_tokens(result: CallToolResult) -> tuple[int, int, list[tuple[int, int]]]:
    """(text tokens, image tokens, preview sizes) of what a host may pass on: every text, each resource link as
    JSON (Codex's form, the longer one), structured content if any (o200k_base); previews at w x h / 750."""
    texts: list[str] = []
    sizes: list[tuple[int, int]] = []
    for block in result.content:
        if isinstance(block, TextContent):
            texts.append(block.text)
        elif isinstance(block, ImageContent):
            with Image.open(io.BytesIO(base64.b64decode(block.data))) as image:
                sizes.append(image.size)
        else:
            texts.append(json.dumps(block.model_dump(mode="json", by_alias=True, exclude_none=True)))
    if result.structured_content is not None:
        texts.append(json.dumps(result.structured_content, separators=(",", ":")))
    return o200k.count("\n".join(texts)), sum(o200k.image_tokens(w, h) for w, h in sizes), sizes


async def run(cfg: RunConfig) -> Section:
    with anyio.fail_after(180):  # bounded: a stuck call fails the run instead of hanging it
        return await _run(cfg)


async def _measure(client: Client, count: int) -> tuple[int, int, list[tuple[int, int]]]:
    result = await client.call_tool("generate_image", {"prompt": "a watercolour fox in a snowy forest", "count": count})
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    if result.is_error or text.count(": completed.") != count:
        raise RuntimeError(f"generate_image count={count} did not complete: {text[:300]}")
    return result_tokens(result)


async def _run(cfg: RunConfig) -> Section:
    section = Section()
    logs = cfg.folder("tokens")
    figures: dict[str, dict[Any, Any]] = {}
    async with child_process(["-m", "bench.sandbox_proc"], env=None, cwd=REPO, log=logs / "sandbox.log") as sandbox:
        env = server_env(cfg, "tokens", sandbox.url, RUNAPI_MCP_WAIT_SECONDS="60")
        params = stdio_params(cfg, "tokens", ["-m", "runapi_mcp"], env)
        with (logs / "server.log").open("a", encoding="utf-8") as log:
            for shape, info in (("host", HOST_CLIENT), ("sdk", None)):
                kwargs: dict[str, Any] = {"client_info": info} if info is not None else {}
                async with Client(stdio_client(params, errlog=log), **kwargs) as client:  # type: ignore[arg-type]
                    tools = (await client.list_tools()).tools
                    figures[shape] = {"tax": context_tax(tools, client.instructions or "")}
                    for count in (1, 4):
                        figures[shape][count] = await _measure(client, count)

    def tax(shape: str) -> str:
        listed, told = figures[shape]["tax"]
        return f"{listed + told:,} (tool list {listed:,} + instructions {told})"

    host_tax = sum(figures["host"]["tax"])
    section.rows.append(
        Row(
            "6. context tax, as Claude Code and Codex get it (o200k)",
            tax("host"),
            f"SDK client shape {tax('sdk')}",
            f"≤ {MAX_CONTEXT_TAX:,}",
            host_tax <= MAX_CONTEXT_TAX,
        )
    )
    for count in (1, 4):
        text, images, sizes = figures["host"][count]
        base_text, base_images, _ = figures["sdk"][count]
        dims = ", ".join(sorted({f"{w}x{h}" for w, h in sizes})) or "none"
        total, per_image = text + images, (text + images) / count
        target, ok = (
            (f"≤ {MAX_ONE_IMAGE_RESULT}", total <= MAX_ONE_IMAGE_RESULT)
            if count == 1
            else (f"≤ {MAX_PER_IMAGE:,} per image", per_image <= MAX_PER_IMAGE)
        )
        section.rows.append(
            Row(
                f"6. tokens per generate_image result, count {count} (host shape)",
                f"{total:,} ({per_image:.0f}/image: text {text / count:.0f} + preview {images / count:.0f}, {dims})",
                f"SDK client shape {base_text + base_images:,} (text {base_text}, with structured content and links)",
                target,
                ok,
            )
        )
    section.notes.append(
        "6. Default settings (1k images, previews `auto` = longest side 512 px). Text in o200k_base tokens "
        "(js-tiktoken's ranks); previews at w x h / 750. A real (non-sandbox) result: no SANDBOX line."
    )
    return section
