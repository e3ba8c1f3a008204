"""Compact JSON schemas for the tool list, which every session pays for in tokens before any work.

pydantic's schemas repeat a title per property and spell optional fields as `anyOf [X, null]` with
`default: null`; none of that helps an agent choose arguments.
"""

from __future__ import annotations

from typing import Any


def compact_schema(schema: Any, *, descriptions: bool = True) -> Any:
    if isinstance(schema, list):
        return [compact_schema(item, descriptions=descriptions) for item in schema]  # pyright: ignore[reportUnknownVariableType]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():  # pyright: ignore[reportUnknownVariableType]
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key == "description" and not descriptions and isinstance(value, str):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: compact_schema(prop, descriptions=descriptions) for name, prop in value.items()}  # pyright: ignore
            continue
        out[str(key)] = compact_schema(value, descriptions=descriptions)  # pyright: ignore[reportUnknownArgumentType]
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:  # pyright: ignore
        (kept,) = [o for o in options if o != {"type": "null"}]  # pyright: ignore[reportUnknownVariableType]
        del out["anyOf"]
        out = {**kept, **out}
    return out


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace `$ref`s into `$defs` by the definitions themselves (ours are small and used once)."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(node, dict):
            return node
        ref: Any = node.get("$ref")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return walk(defs[ref.removeprefix("#/$defs/")])
        return {k: walk(v) for k, v in node.items() if k != "$defs"}  # pyright: ignore[reportUnknownVariableType]

    return walk(schema)
