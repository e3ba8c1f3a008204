"""Put our entry into Codex's config.toml with tomlkit, so the user's comments and layout survive."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import OutOfOrderTableProxy
from tomlkit.items import Table

from runapi_mcp.install.errors import InitError
from runapi_mcp.install.launch import SERVER_NAME
from runapi_mcp.install.targets import HostTarget


def merge_toml(target: HostTarget, path: Path, old_text: str | None, entry: dict[str, Any]) -> str:
    if old_text is None or not old_text.strip():
        doc = tomlkit.document()
    else:
        # tomllib is the reference parser and names the line; tomlkit is lenient in places.
        try:
            tomllib.loads(old_text)
        except tomllib.TOMLDecodeError as exc:
            raise InitError(
                f"{path}: not valid TOML ({exc}). The file was left untouched: fix it (or move it away), "
                "then run this again."
            ) from None
        doc = tomlkit.parse(old_text)

    servers: object = doc.get(target.container)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        doc[target.container] = servers
    elif not isinstance(servers, Table | OutOfOrderTableProxy):
        raise InitError(
            f"{path}: `{target.container}` is not written as [{target.container}.NAME] tables, so runapi-mcp "
            "cannot add to it safely. The file was left untouched: add this table to it by hand:\n\n"
            + render_toml(target.container, entry)
        )
    servers[SERVER_NAME] = _table(entry)
    text = tomlkit.dumps(doc).rstrip("\n") + "\n"
    # tomlkit edits text in place; never hand back a file Codex would read differently from what we meant.
    written: Any = tomllib.loads(text).get(target.container, {}).get(SERVER_NAME)
    if written != entry:
        raise InitError(
            f"{path}: could not add the {SERVER_NAME} server without disturbing the file's layout. The file was "
            "left untouched: add this table to it by hand:\n\n" + render_toml(target.container, entry)
        )
    return text


def render_toml(container: str, entry: dict[str, Any]) -> str:
    doc = tomlkit.document()
    servers = tomlkit.table(is_super_table=True)
    servers[SERVER_NAME] = _table(entry)
    doc[container] = servers
    return tomlkit.dumps(doc).rstrip("\n") + "\n"


def _table(entry: dict[str, Any], *, outer: bool = True) -> Table:
    table = tomlkit.table()
    for key, value in entry.items():
        if isinstance(value, dict):
            table[key] = _table(value, outer=False)  # pyright: ignore[reportUnknownArgumentType]
        else:
            table[key] = value
    if outer:
        # A blank line after our table keeps the next [table] header from sitting right under it.
        table.add(tomlkit.nl())
    return table
