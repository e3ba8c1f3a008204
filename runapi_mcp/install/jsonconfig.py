"""Put our entry into a host's JSON config, keeping everything else in the file as it was (as data)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

from runapi_mcp.install.errors import InitError
from runapi_mcp.install.launch import SERVER_NAME
from runapi_mcp.install.targets import VSCODE_KEY_INPUT_ID, HostTarget, KeyPlan, vscode_key_input


def merge_json(target: HostTarget, path: Path, old_text: str | None, entry: dict[str, Any], key: KeyPlan) -> str:
    data = _load_object(path, old_text)
    servers = data.setdefault(target.container, {})
    if not isinstance(servers, dict):
        raise InitError(
            f'{path}: "{target.container}" is {_kind(servers)}, but {target.title} expects an object of servers '
            "by name. The file was left untouched: fix that key, then run this again."
        )
    cast(dict[str, Any], servers)[SERVER_NAME] = entry
    if target.style == "vscode":
        _set_vscode_inputs(path, data, key)
    return render_json(data, indent=_indent_of(old_text))


def render_json(data: dict[str, Any], *, indent: int | str = 2) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"


def _load_object(path: Path, old_text: str | None) -> dict[str, Any]:
    if old_text is None or not old_text.strip():
        return {}
    try:
        data: Any = json.loads(old_text)
    except json.JSONDecodeError as exc:
        raise InitError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); comments and trailing commas are not "
            "JSON. The file was left untouched: fix it (or move it away), then run this again."
        ) from None
    if not isinstance(data, dict):
        raise InitError(
            f"{path} holds {_kind(data)} at the top level, not an object. The file was left untouched: "
            "fix it (or move it away), then run this again."
        )
    return cast(dict[str, Any], data)


def _set_vscode_inputs(path: Path, data: dict[str, Any], key: KeyPlan) -> None:
    """Keep other inputs; ours is present exactly when the entry refers to it."""
    inputs: Any = data.get("inputs", [])
    if not isinstance(inputs, list):
        raise InitError(
            f'{path}: "inputs" is {_kind(inputs)}, but VS Code expects a list. The file was left untouched: '
            "fix that key, then run this again."
        )
    existing = cast(list[Any], inputs)
    kept: list[Any] = [i for i in existing if not _is_our_input(i)]
    if key.mode == "forward":
        kept.append(vscode_key_input())
    if "inputs" in data:
        if kept or len(kept) == len(existing):
            data["inputs"] = kept
        else:
            del data["inputs"]  # it only held ours
    elif kept:
        # A new inputs list goes first, as in VS Code's own files.
        rest = dict(data)
        data.clear()
        data["inputs"] = kept
        data.update(rest)


def _is_our_input(item: Any) -> bool:
    return isinstance(item, dict) and cast(dict[str, Any], item).get("id") == VSCODE_KEY_INPUT_ID


def _indent_of(text: str | None) -> int | str:
    """Reuse the file's indentation so a merge does not reformat the lines we did not touch."""
    if text:
        match = re.search(r"\n([ \t]+)\S", text)
        if match:
            unit = match.group(1)
            return "\t" if unit.startswith("\t") else len(unit)
    return 2


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
