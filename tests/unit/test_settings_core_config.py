"""The narrow config the generation flow gets: exactly what core reads, built from validated settings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from runapi_mcp.core.config import CoreConfig
from runapi_mcp.settings import Settings

CORE = Path(__file__).resolve().parents[2] / "runapi_mcp" / "core"
SETTINGS_NAMES = {"settings", "_settings", "_config", "core_config"}


def _attributes_core_reads_from_its_settings() -> set[str]:
    """`settings.X`, `self._settings.X`, `self._config.X`, `core_config.X` anywhere in runapi_mcp/core."""
    read: set[str] = set()
    for source in CORE.rglob("*.py"):
        if source.name == "config.py":
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if name in SETTINGS_NAMES:
                read.add(node.attr)
    return read


def test_core_config_holds_every_setting_core_reads() -> None:
    read = _attributes_core_reads_from_its_settings()
    assert read, "core reads no settings at all: the scan looks in the wrong place"
    offered = set(CoreConfig.model_fields) | {"roots"}
    assert read <= offered, f"core reads settings the CoreConfig lacks: {sorted(read - offered)}"


def test_settings_build_a_core_config_with_their_values_and_nothing_of_the_app(tmp_path: Path) -> None:
    settings = Settings.load(
        env={
            "HOME": "/nonexistent",
            "RUNAPI_BASE_URL": "http://127.0.0.1:9",
            "RUNAPI_MCP_WAIT_SECONDS": "7",
            "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.5",
            "RUNAPI_MCP_POLL_MAX_SECONDS": "2",
            "RUNAPI_MCP_PREVIEW": "off",
            "RUNAPI_MCP_MAX_DOWNLOAD_MB": "5",
            "RUNAPI_MCP_OUTPUT_DIR": str(tmp_path),
        },
        working_dir=tmp_path,
    )
    config = settings.core_config()
    for name in CoreConfig.model_fields:
        assert getattr(config, name) == getattr(settings, name), name
    assert config.roots == settings.roots
    assert not {"http_token", "api_key", "transport", "http_auth", "log_level"} & set(CoreConfig.model_fields)


def test_core_config_is_frozen_and_validates_its_own_bounds_and_rules(tmp_path: Path) -> None:
    config = Settings.load(env={"HOME": "/nonexistent"}, working_dir=tmp_path).core_config()
    with pytest.raises(ValidationError):
        config.wait_seconds = 1.0  # type: ignore[misc]
    fields = config.model_dump()
    with pytest.raises(ValidationError, match="RUNAPI_MCP_POLL_INITIAL_SECONDS"):
        CoreConfig(**{**fields, "poll_initial_seconds": 9.0, "poll_max_seconds": 1.0})
    with pytest.raises(ValidationError):
        CoreConfig(**{**fields, "request_timeout": 0.0})
    with pytest.raises(ValidationError):
        CoreConfig(**{**fields, "transport": "http"})  # nothing of the app's settings rides along


def test_core_config_imports_nothing_of_the_app() -> None:
    tree = ast.parse((CORE / "config.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in modules if m.startswith(("runapi_mcp.settings", "runapi_mcp.server", "mcp"))}
