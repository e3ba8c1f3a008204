"""The bench runs the host versions .ci/run pins, the ones the README's host table names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.hostbench.hosts import cli, cli_version

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"claude": "@anthropic-ai/claude-code", "codex": "@openai/codex"}

pytestmark = pytest.mark.npm


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_the_cli_is_the_pinned_version_and_the_readme_names_it(name: str) -> None:
    pinned = re.search(re.escape(PACKAGES[name]) + r"@([0-9.]+)", (REPO / ".ci" / "run").read_text())
    assert pinned, f".ci/run pins no {PACKAGES[name]}"
    version = pinned.group(1)
    assert cli_version(cli(name)) == version
    title = {"claude": "Claude Code", "codex": "Codex"}[name]
    assert re.search(rf"^\| {title}[^|]*\| {re.escape(version)} \|", (REPO / "README.md").read_text(), re.M)
