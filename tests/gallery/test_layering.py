"""The gallery reads the journal and settings only: it never imports the MCP SDK or the server."""

from __future__ import annotations

import ast
from pathlib import Path

GALLERY = Path(__file__).resolve().parents[2] / "runapi_mcp" / "gallery"


def test_gallery_never_imports_mcp_or_the_server_and_reads_the_journal_in_one_module() -> None:
    wrong: list[str] = []
    journal_readers: set[str] = set()
    for source in GALLERY.rglob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            for module in modules:
                if module == "mcp" or module.startswith(("mcp.", "runapi_mcp.server", "runapi_mcp.sandbox")):
                    wrong.append(f"{source.name} imports {module}")
            reads = isinstance(node, ast.Attribute) and node.attr in ("recent", "get", "get_by_key", "unresolved")
            if reads and isinstance(node.value, ast.Name) and node.value.id == "journal":  # type: ignore[union-attr]
                journal_readers.add(source.name)
    assert not wrong, wrong
    assert journal_readers == {"records.py"}
