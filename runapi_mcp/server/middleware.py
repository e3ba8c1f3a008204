"""The tool surface as each client sees it, shaped at the wire by one SDK middleware.

- tools/list: compact schemas (every byte is paid for by every session), output schemas only for
  clients that get structured results, and the wait bound each host really gets (its own wait budget).
- tools/call: a name that is no tool is a malformed request (a JSON-RPC error), not a failed tool run;
  bad arguments get one line instead of pydantic's multi-line dump; structuredContent only for clients
  whose host does not let it displace the text and the preview.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, Tool
from pydantic import BaseModel

from runapi_mcp.core.config import DEFAULT_WAIT_SECONDS
from runapi_mcp.server.schema import compact_schema, inline_refs

if TYPE_CHECKING:
    import jsonschema

# Decides, per request, whether this client is sent structuredContent (and told of output schemas).
StructuredFor = Callable[[ServerRequestContext[Any, Any]], bool]
# The wait budget for a host, by the name it sent as clientInfo (None when it sent none).
WaitFor = Callable[[str | None], float]
MAX_ARGUMENT_PROBLEMS = 4


def wait_text(seconds: float) -> str:
    """How a `wait` parameter's description states the bound; tools/list restates it per host."""
    return f"~{seconds:g} s"


DEFAULT_WAIT_TEXT = wait_text(DEFAULT_WAIT_SECONDS)


class ToolSurface:
    """Results reach this tier serialized (wire dicts, camelCase keys), so they are shaped as dicts."""

    def __init__(
        self, list_tools: Callable[[], Awaitable[list[Tool]]], structured_for: StructuredFor, wait_for: WaitFor
    ) -> None:
        self._list_tools = list_tools
        self._structured_for = structured_for
        self._wait_for = wait_for
        self._schemas: dict[str, dict[str, Any]] = {}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/list":
            wait = self._wait_for(_client_name(ctx))
            return _shape_list(_wire(await call_next(ctx)), structured=self._structured_for(ctx), wait=wait)
        if ctx.method == "tools/call":
            return await self._call(ctx, call_next)
        return await call_next(ctx)

    async def _call(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params: Mapping[str, Any] = ctx.params or {}
        name = params.get("name")
        if not self._schemas:
            # Learned once from the server itself: a client may call without listing first (a cached list).
            self._schemas = {tool.name: tool.input_schema for tool in await self._list_tools()}
        if not isinstance(name, str) or name not in self._schemas:
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {name}")
        result = _wire(await call_next(ctx))
        if result is None or "content" not in result:
            return result  # an input-required round, not a tool result
        if result.get("isError"):
            problem = argument_problems(self._schemas[name], params.get("arguments") or {})
            if problem is not None:
                return {**result, "content": [{"type": "text", "text": problem}]}
        if "structuredContent" in result and not self._structured_for(ctx):
            return {k: v for k, v in result.items() if k != "structuredContent"}
        return result


def _wire(result: HandlerResult) -> dict[str, Any] | None:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return result


def _client_name(ctx: ServerRequestContext[Any, Any]) -> str | None:
    params = ctx.session.client_params
    info = params.client_info if params is not None else None
    return info.name if info is not None else None


def _shape_list(result: dict[str, Any] | None, *, structured: bool, wait: float) -> dict[str, Any] | None:
    if result is None:
        return None
    tools: list[dict[str, Any]] = []
    for tool in result.get("tools", []):
        shaped = {**tool, "inputSchema": _with_wait(compact_schema(tool["inputSchema"]), wait)}
        output = shaped.pop("outputSchema", None)
        if structured and output:
            shaped["outputSchema"] = compact_schema(inline_refs(output), descriptions=False)
        tools.append(shaped)
    return {**result, "tools": tools}


def _with_wait(schema: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The schema with its `wait` parameter saying this host's budget instead of the default one."""
    properties: dict[str, Any] = schema.get("properties", {})
    wait = properties.get("wait")
    if not isinstance(wait, dict):
        return schema
    wait = cast(dict[str, Any], wait)
    text = wait.get("description")
    if not isinstance(text, str) or DEFAULT_WAIT_TEXT not in text:
        return schema
    described = {**wait, "description": text.replace(DEFAULT_WAIT_TEXT, wait_text(seconds))}
    return {**schema, "properties": {**properties, "wait": described}}


def argument_problems(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str | None:
    """One line naming each bad argument, or None when the arguments fit the schema (the error is elsewhere)."""
    import jsonschema  # only on a failed call: every session pays for start-up imports

    validator = jsonschema.Draft202012Validator(inline_refs(dict(schema)))
    found: list[jsonschema.ValidationError] = list(validator.iter_errors(dict(arguments)))  # pyright: ignore[reportUnknownMemberType]
    errors = sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return None
    parts = [_describe(error) for error in errors[:MAX_ARGUMENT_PROBLEMS]]
    more = f" (+{len(errors) - MAX_ARGUMENT_PROBLEMS} more)" if len(errors) > MAX_ARGUMENT_PROBLEMS else ""
    return "Invalid arguments: " + "; ".join(parts) + more + ". Fix them and call again."


def _describe(error: jsonschema.ValidationError) -> str:
    field = ".".join(str(p) for p in error.absolute_path)
    # An optional argument is `anyOf [X, null]`: the useful complaint is the one about X.
    useful = [e for e in error.context or () if e.schema != {"type": "null"}]
    if useful:
        error = useful[0]
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "an argument"
        return f"{missing}: is required"
    if error.validator == "additionalProperties":
        return f"{field or 'arguments'}: {error.message}"
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return f"{field or 'arguments'}: {message}"
