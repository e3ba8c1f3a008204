"""Helpers the server tests import (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from mcp import Client

from runapi_mcp.settings import Settings

TEST_KEY = "sk-test-4b1d5e9a0c7f"

ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]


def make_settings(tmp_path: Path, base_url: str, **env: str) -> Settings:
    values = {
        "HOME": str(tmp_path / "home"),
        "RUNAPI_BASE_URL": base_url,
        "RUNAPI_API_KEY": TEST_KEY,
        "RUNAPI_MCP_STATE_DIR": str(tmp_path / "state"),
        "RUNAPI_MCP_WAIT_SECONDS": "10",
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.01",
        "RUNAPI_MCP_POLL_MAX_SECONDS": "0.05",
        "RUNAPI_MCP_MAX_RETRIES": "2",
    }
    values.update(env)
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return Settings.load(env={k: v for k, v in values.items() if v != ""}, working_dir=project)


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)
