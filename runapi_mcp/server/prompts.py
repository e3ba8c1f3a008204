"""RunAPI's prompt library as MCP prompts: free in tools/list, there when the user asks for ideas.

`gpt-image-2-prompts` searches the library; each featured library entry is also a prompt of its own
(`library-<title>`). Both hand back text ready for generate_image (or edit_image for edit prompts).
The library is read from RunAPI's `GET /api/v1/prompts`; offline, the prompt says so in one line.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    GetPromptResult,
    PromptArgument,
    PromptMessage,
    TextContent,
)
from mcp.types import Prompt as MCPPrompt
from pydantic import BaseModel

from runapi_mcp.runapi.client import RetryPolicy
from runapi_mcp.runapi.errors import RunAPIError
from runapi_mcp.runapi.models import LibraryPrompt
from runapi_mcp.server.state import AppState

log = logging.getLogger(__name__)

SEARCH_PROMPT = "gpt-image-2-prompts"
LIBRARY_PREFIX = "library-"
SEARCH_RESULTS = 5
FEATURED_LIMIT = 20
LOOKUP_SECONDS = 5.0  # prompts/list may come at start-up: never hold a host up for long
FRESH_SECONDS = 600.0
RETRY_OFFLINE_SECONDS = 60.0
_MAX_PROMPT_CHARS = 4000

_SEARCH = MCPPrompt(
    name=SEARCH_PROMPT,
    title="GPT Image 2 prompt ideas",
    description="Find ready-made GPT Image 2 prompts in RunAPI's prompt library.",
    arguments=[
        PromptArgument(name="query", description="What to look for, e.g. poster, product, watercolor."),
        PromptArgument(name="category", description="Optional: product, portrait, illustration, typography, ..."),
    ],
)


class Offline(Exception):
    pass


@dataclass
class _Featured:
    by_name: dict[str, LibraryPrompt]
    fetched_at: float
    ok: bool


class PromptLibrary:
    """An SDK middleware: adds the library's prompts to prompts/list and answers prompts/get for them."""

    def __init__(self) -> None:
        self._featured_cache: _Featured | None = None

    async def __call__(self, ctx: ServerRequestContext[AppState, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "prompts/list":
            listed = await call_next(ctx)
            wire = (
                listed.model_dump(by_alias=True, mode="json", exclude_none=True)
                if isinstance(listed, BaseModel)
                else listed
            )
            featured = await self._featured(ctx.lifespan_context)
            ours = [_SEARCH, *(_as_mcp_prompt(name, entry) for name, entry in featured.by_name.items())]
            extra = [prompt.model_dump(by_alias=True, mode="json", exclude_none=True) for prompt in ours]
            return {**(wire or {}), "prompts": [*(wire or {}).get("prompts", []), *extra]}
        params = ctx.params or {}
        name = params.get("name")
        if ctx.method != "prompts/get" or not isinstance(name, str) or not _is_ours(name):
            return await call_next(ctx)
        arguments = params.get("arguments")
        raw: dict[str, Any] = dict(arguments) if isinstance(arguments, Mapping) else {}  # pyright: ignore[reportUnknownArgumentType]
        return await self._get(ctx.lifespan_context, name, {k: str(v).strip() for k, v in raw.items() if v is not None})

    async def _get(self, state: AppState, name: str, args: dict[str, str]) -> GetPromptResult:
        if name == SEARCH_PROMPT:
            text = await _search_text(state, args.get("query", ""), args.get("category", ""))
            return _result("Prompts from RunAPI's library", text)
        featured = await self._featured(state)
        entry = featured.by_name.get(name)
        if entry is None:
            if not featured.ok:
                return _result("RunAPI's prompt library", _offline_line("it could not be reached"))
            raise MCPError(INVALID_PARAMS, f"Unknown prompt: {name}. prompts/list names the library's prompts.")
        return _result(entry.title, _use_text(entry, args.get("changes", "")))

    async def _featured(self, state: AppState) -> _Featured:
        cached = self._featured_cache
        now = time.monotonic()
        if cached is not None and now - cached.fetched_at < (FRESH_SECONDS if cached.ok else RETRY_OFFLINE_SECONDS):
            return cached
        try:
            entries = await _lookup(state, featured=True, per_page=FEATURED_LIMIT)
            fresh = _Featured(_named(entries), now, ok=True)
        except Offline as exc:
            log.info("RunAPI's prompt library is unreachable (%s); listing the search prompt only", exc)
            fresh = _Featured(cached.by_name if cached else {}, now, ok=False)
        self._featured_cache = fresh
        return fresh


def _is_ours(name: str) -> bool:
    return name == SEARCH_PROMPT or name.startswith(LIBRARY_PREFIX)


async def _lookup(state: AppState, **query: Any) -> list[LibraryPrompt]:
    client = state.client.with_retry(RetryPolicy(max_retries=0))
    try:
        with anyio.fail_after(LOOKUP_SECONDS):
            page = await client.search_prompts(**query)
    except TimeoutError:
        raise Offline(f"no answer within {LOOKUP_SECONDS:g} s") from None
    except RunAPIError as exc:
        raise Offline(exc.message.rstrip(".")) from None
    return [p for p in page.prompts if p.model in (None, "gpt-image-2") and p.prompt.strip()]


async def _search_text(state: AppState, query: str, category: str) -> str:
    try:
        found = await _lookup(state, q=query or None, category=category or None, per_page=SEARCH_RESULTS)
    except Offline as exc:
        return _offline_line(str(exc))
    what = " ".join(f'"{v}"' for v in (query, category) if v) or "featured"
    if not found:
        return (
            f"RunAPI's prompt library has no GPT Image 2 prompts matching {what}. Try a broader word "
            "(product, portrait, poster, watercolor), or describe the image and call generate_image."
        )
    lines = [
        f"GPT Image 2 prompts from RunAPI's library matching {what}. Pick one, adapt it to what the user "
        "wants, and pass it as `prompt`:"
    ]
    for number, entry in enumerate(found, 1):
        tags = ", ".join(entry.tags[:6])
        lines.append(f"\n{number}. {entry.title} ({_tool_for(entry)}; {entry.category or 'general'}; {tags})")
        lines.append(_clip(entry.prompt))
    return "\n".join(lines)


def _use_text(entry: LibraryPrompt, changes: str) -> str:
    adapt = f" Adapt it first: {changes}." if changes else ""
    if _tool_for(entry) == "edit_image":
        lead = "Call edit_image with this instruction from RunAPI's library and the image(s) to change."
    else:
        lead = "Call generate_image with this prompt from RunAPI's library."
    return f"{lead}{adapt}\n\n{_clip(entry.prompt)}"


def _offline_line(why: str) -> str:
    return f"RunAPI's prompt library is offline ({why}); describe the image in your own words and call generate_image."


def _tool_for(entry: LibraryPrompt) -> str:
    return "edit_image" if entry.action == "edit_image" or entry.modality == "image_edit" else "generate_image"


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_PROMPT_CHARS else text[:_MAX_PROMPT_CHARS] + "…"


def _named(entries: list[LibraryPrompt]) -> dict[str, LibraryPrompt]:
    named: dict[str, LibraryPrompt] = {}
    for entry in entries:
        slug = re.sub(r"[^a-z0-9]+", "-", (entry.title or str(entry.id)).lower()).strip("-")[:48].strip("-")
        name = LIBRARY_PREFIX + (slug or "prompt")
        if name in named:  # two titles that slug alike: the id tells them apart
            name = f"{name}-{re.sub(r'[^a-z0-9]+', '-', str(entry.id).lower()).strip('-')}"
        named[name] = entry
    return named


def _as_mcp_prompt(name: str, entry: LibraryPrompt) -> MCPPrompt:
    return MCPPrompt(
        name=name,
        title=entry.title or None,
        description=f"RunAPI library prompt for {_tool_for(entry)}"
        + (f" ({entry.category})." if entry.category else "."),
        arguments=[PromptArgument(name="changes", description="Optional: what to change, e.g. colours or subject.")],
    )


def _result(description: str, text: str) -> GetPromptResult:
    return GetPromptResult(
        description=description, messages=[PromptMessage(role="user", content=TextContent(type="text", text=text))]
    )
