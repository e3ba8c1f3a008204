"""What a tool result carries for the client that receives it, decided from what the client declares.

Hosts differ in what they hand the model when a result has `structuredContent` (measured with the real
CLIs and a scripted model, tests/hostbench):
- Claude Code 2.1.128+ removes every text block and appends the JSON; the image survives. A result with
  no image becomes the JSON alone. Up to 2.1.126 only the JSON reached the model.
- Codex 0.128-0.171 sends the model only the JSON: no text, no image, no link.
- Without `structuredContent` both pass the text, the image and the link intact.
So structured content goes only to clients with no model in between (the MCP Python SDK's own client,
the MCP Inspector's CLI); every host and every unknown client gets text + image + link, and no output schema (the
protocol requires structured content wherever a tool advertises one). The setting overrides.
Both measured hosts turn a resource link into text (49-65 tokens) repeating the saved path the text
already gives, which their own file tools open: they get no links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

StructuredSetting = bool | Literal["auto", "true", "false"]

# Clients measured to hand a result to the model with its text and image intact only without
# structuredContent. Matched on clientInfo.name.
DISPLACING_HOSTS = {
    "claude-code": "Claude Code drops the text blocks when structuredContent is present",
    "codex-mcp-client": "Codex passes the model only structuredContent (no text, no image)",
}
# Clients with no model in between: they hand the whole CallToolResult to code or show all of it to a
# developer, so structured content costs nothing there. "mcp" is the MCP Python SDK's default clientInfo
# name; "inspector-cli" the MCP Inspector's CLI (2.12).
PROGRAMMATIC_CLIENTS = frozenset({"mcp", "inspector-cli"})


@dataclass(frozen=True)
class ResultShape:
    structured: bool  # tool results carry structuredContent
    output_schema: bool  # tools/list advertises outputSchema
    reason: str
    resource_links: bool = True  # results carry a runapi:// resource link per saved image


def result_shape(
    client_name: str | None,
    client_version: str | None,
    capabilities: dict[str, Any] | None,
    protocol_version: str | None,
    setting: StructuredSetting = "auto",
) -> ResultShape:
    """The shape of every result on one connection; a pure function of what the client declared.

    `client_version` and `capabilities` are accepted so the decision can follow a host's releases; no
    measured host changes its handling with either yet. Protocol versions before 2025-06-18 have no
    structured output at all.
    """
    del client_version, capabilities  # no measured difference by either (see the module docstring)
    choice = _normalise(setting)
    if choice == "false":
        return ResultShape(False, False, "RUNAPI_MCP_STRUCTURED_OUTPUT=false")
    if protocol_version is not None and protocol_version < "2025-06-18":
        return ResultShape(False, False, f"protocol {protocol_version} predates structured output")
    if choice == "true":
        return ResultShape(True, True, "RUNAPI_MCP_STRUCTURED_OUTPUT=true")
    name = (client_name or "").strip().lower()
    if name in DISPLACING_HOSTS:
        return ResultShape(False, False, DISPLACING_HOSTS[name], resource_links=False)
    if name in PROGRAMMATIC_CLIENTS:
        return ResultShape(True, True, f"{name} passes the whole result on, with no model in between")
    return ResultShape(False, False, f"unknown client {name or '(no clientInfo)'}: text and image are safe everywhere")


def _normalise(setting: StructuredSetting) -> Literal["auto", "true", "false"]:
    if setting is True:
        return "true"
    if setting is False:
        return "false"
    return setting


def shape_tools(tools: list[Any], shape: ResultShape) -> list[Any]:
    """tools/list for this client: without outputSchema where results carry no structured content."""
    if shape.output_schema:
        return tools
    return [_without(tool, "output_schema", "outputSchema") for tool in tools]


def shape_result(result: Any, shape: ResultShape) -> Any:
    """A tools/call result for this client: structured content removed where it would displace the text,
    resource links where the host only turns them into text."""
    if not shape.resource_links:
        result = _without_links(result)
    if shape.structured:
        return result
    return _without(result, "structured_content", "structuredContent")


def _is_link(block: Any) -> bool:
    kind: Any = cast(dict[str, Any], block).get("type") if isinstance(block, dict) else getattr(block, "type", None)
    return kind == "resource_link"


def _without_links(result: Any) -> Any:
    if isinstance(result, dict):
        wire = cast(dict[str, Any], result)
        blocks: list[Any] = list(wire.get("content") or [])
        return {**wire, "content": [b for b in blocks if not _is_link(b)]}
    content: Any = getattr(result, "content", None)
    if not isinstance(content, list) or not any(_is_link(b) for b in cast(list[Any], content)):
        return result
    return result.model_copy(update={"content": [b for b in cast(list[Any], content) if not _is_link(b)]})


def _without(item: Any, attribute: str, wire_key: str) -> Any:
    if isinstance(item, dict):
        wire = cast(dict[str, Any], item)
        return {k: v for k, v in wire.items() if k not in (attribute, wire_key)}
    if getattr(item, attribute, None) is not None:
        return item.model_copy(update={attribute: None})
    return item
