"""The real Claude Code and Codex CLIs accept what we ship and what `init` writes.

The CLIs come from npm (`@anthropic-ai/claude-code`, `@openai/codex`). Set RUNAPI_MCP_TEST_NPM_BIN to a
node_modules/.bin folder, or put them on PATH; without them these tests skip. Each test gives the CLI a
fresh HOME (and CODEX_HOME), so nothing touches the user's own configuration. Offline is fine: `claude mcp
list` only starts each server and asks for its tools.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from functools import cache
from pathlib import Path

import pytest

from runapi_mcp.install import apply_init, plan_init
from tests.install.helpers import OTHER_TOML, REPO_ROOT

pytestmark = [
    pytest.mark.npm,
    pytest.mark.skipif(sys.platform.startswith("win"), reason="the CLIs are driven through POSIX shells here"),
]

VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
TIMEOUT = 90  # under pytest-timeout, so a hung CLI fails with its own output


def _tool(name: str) -> str:
    bin_dir = os.environ.get("RUNAPI_MCP_TEST_NPM_BIN")
    if bin_dir and (Path(bin_dir) / name).exists():
        return str(Path(bin_dir) / name)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"`{name}` is not installed (set RUNAPI_MCP_TEST_NPM_BIN to a node_modules/.bin folder)")
    return found


@cache
def _our_server_runs() -> bool:
    """The server's own CLI (`python -m runapi_mcp --sandbox`) is built by another part of the project."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runapi_mcp", "--help"], capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and "--sandbox" in done.stdout


def _require_our_server() -> None:
    if not _our_server_runs():
        pytest.skip("`python -m runapi_mcp --sandbox` does not run yet")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    (path / ".codex").mkdir(parents=True)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def _env(home: Path, path_prefix: Path | None = None) -> dict[str, str]:
    path = os.environ.get("PATH", "")
    if path_prefix is not None:
        path = f"{path_prefix}{os.pathsep}{path}"
    return {
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "PATH": path,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "NO_COLOR": "1",
    }


def _run(args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def _server_line(listing: str, name: str) -> str:
    lines = [line for line in listing.splitlines() if line.startswith(f"{name}:")]
    assert len(lines) == 1, f"no single `{name}:` line in:\n{listing}"
    return lines[0]


def _probe_server(tmp_path: Path) -> Path:
    """A one-tool MCP server: proves what init wrote is read and started, whatever state our server is in.

    Given a file name as its argument, it records the RUNAPI_API_KEY it was started with there.
    """
    script = tmp_path / "probe_server.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, sys
            from mcp.server import MCPServer

            if len(sys.argv) > 1:
                with open(sys.argv[1], "w") as f:
                    json.dump({"key": os.environ.get("RUNAPI_API_KEY")}, f)

            mcp = MCPServer("probe")

            @mcp.tool()
            def ping() -> str:
                return "pong"

            mcp.run()
            """
        )
    )
    return script


def _repo_copy(tmp_path: Path) -> Path:
    """The shipped marketplaces and plugins, copied so a CLI can never write into the checkout."""
    root = tmp_path / "repo"
    for folder in (".claude-plugin", ".agents", "manifests"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    return root


def _uvx_shim(tmp_path: Path) -> Path:
    """Stands in for `uvx runapi-mcp@VERSION` (offline, unpublished): runs this checkout on the sandbox."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "uvx"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m runapi_mcp --sandbox\n')
    shim.chmod(0o755)
    return bin_dir


def test_claude_validates_the_plugin_and_the_marketplace_strictly(home: Path, tmp_path: Path) -> None:
    claude = _tool("claude")
    repo = _repo_copy(tmp_path)
    env = _env(home)

    plugin = _run([claude, "plugin", "validate", "--strict", str(repo / "manifests/claude-plugin")], env=env, cwd=repo)
    market = _run([claude, "plugin", "validate", "--strict", str(repo)], env=env, cwd=repo)

    assert "Validation passed" in plugin.stdout
    assert "Validation passed" in market.stdout


def test_claude_connects_to_a_server_that_init_wrote_into_the_user_config(
    home: Path, project: Path, tmp_path: Path
) -> None:
    claude = _tool("claude")
    probe = _probe_server(tmp_path)
    (home / ".claude.json").write_text(json.dumps({"numStartups": 3, "mcpServers": {}}))
    apply_init(
        plan_init(
            "claude", user=True, command=f"{sys.executable} {probe}", project_dir=project, home=home, forward_key=True
        )
    )

    listing = _run([claude, "mcp", "list"], env=_env(home), cwd=project).stdout

    assert "Connected" in _server_line(listing, "runapi")
    assert json.loads((home / ".claude.json").read_text())["numStartups"] >= 3


def test_claude_connects_to_a_server_that_init_wrote_into_the_project_config(
    home: Path, project: Path, tmp_path: Path
) -> None:
    claude = _tool("claude")
    probe = _probe_server(tmp_path)
    apply_init(
        plan_init(
            "claude", user=False, command=f"{sys.executable} {probe}", project_dir=project, home=home, forward_key=True
        )
    )
    # What the user's one-time "trust this folder, use its .mcp.json servers" answer records.
    state = {"projects": {str(project): {"hasTrustDialogAccepted": True, "enabledMcpjsonServers": ["runapi"]}}}
    (home / ".claude.json").write_text(json.dumps(state))

    result = _run([claude, "mcp", "list"], env=_env(home), cwd=project)

    assert "Connected" in _server_line(result.stdout, "runapi")
    assert "Missing environment variables" not in result.stdout + result.stderr


@pytest.mark.parametrize(("key", "received"), [("sk-from-env", "sk-from-env"), (None, "")])
def test_claude_passes_the_key_through_and_an_unset_key_arrives_empty_not_as_placeholder_text(
    key: str | None, received: str, home: Path, project: Path, tmp_path: Path
) -> None:
    claude = _tool("claude")
    record = tmp_path / "seen.json"
    command = f"{sys.executable} {_probe_server(tmp_path)} {record}"
    apply_init(plan_init("claude", user=True, command=command, project_dir=project, home=home, forward_key=True))
    env = _env(home) | ({"RUNAPI_API_KEY": key} if key else {})

    result = _run([claude, "mcp", "list"], env=env, cwd=project)

    assert "Connected" in _server_line(result.stdout, "runapi")
    assert json.loads(record.read_text()) == {"key": received}
    assert "Missing environment variables" not in result.stdout + result.stderr


def test_claude_mcp_add_then_list_reports_our_server_connected(home: Path, project: Path) -> None:
    claude = _tool("claude")
    _require_our_server()
    env = _env(home)

    _run(
        [claude, "mcp", "add", "-s", "user", "runapi", "--", sys.executable, "-m", "runapi_mcp", "--sandbox"],
        env=env,
        cwd=project,
    )
    listing = _run([claude, "mcp", "list"], env=env, cwd=project).stdout

    assert "Connected" in _server_line(listing, "runapi")


def test_claude_installs_the_plugin_from_the_marketplace_and_starts_its_server(
    home: Path, project: Path, tmp_path: Path
) -> None:
    claude = _tool("claude")
    repo = _repo_copy(tmp_path)
    env = _env(home, path_prefix=_uvx_shim(tmp_path))

    _run([claude, "plugin", "marketplace", "add", str(repo)], env=env, cwd=project)
    _run([claude, "plugin", "install", "runapi@runapi-mcp"], env=env, cwd=project)
    listing = _run([claude, "mcp", "list"], env=env, cwd=project).stdout

    line = _server_line(listing, "plugin:runapi:runapi")
    assert f"uvx runapi-mcp@{VERSION}" in line
    if _our_server_runs():
        assert "Connected" in line


def test_codex_mcp_add_writes_the_server_into_codex_home(home: Path, project: Path) -> None:
    codex = _tool("codex")
    env = _env(home)

    _run([codex, "mcp", "add", "runapi", "--", sys.executable, "-m", "runapi_mcp"], env=env, cwd=project)

    config = tomllib.loads((home / ".codex" / "config.toml").read_text())
    assert config["mcp_servers"]["runapi"]["command"] == sys.executable
    assert config["mcp_servers"]["runapi"]["args"] == ["-m", "runapi_mcp"]
    shown = json.loads(_run([codex, "mcp", "get", "runapi", "--json"], env=env, cwd=project).stdout)
    assert shown["transport"]["command"] == sys.executable


def test_codex_reads_what_init_wrote_beside_another_server(home: Path, project: Path) -> None:
    codex = _tool("codex")
    config = home / ".codex" / "config.toml"
    config.write_text(OTHER_TOML)
    apply_init(plan_init("codex", user=True, command=None, project_dir=project, home=home, forward_key=True))

    listed = json.loads(_run([codex, "mcp", "list", "--json"], env=_env(home), cwd=project).stdout)

    servers = {s["name"]: s for s in listed}
    assert set(servers) == {"other", "runapi"}
    ours = servers["runapi"]
    assert ours["transport"]["command"] == "uvx"
    assert ours["transport"]["args"] == ["runapi-mcp"]
    assert ours["transport"]["env_vars"] == ["RUNAPI_API_KEY", "RUNAPI_BASE_URL"]
    assert ours["startup_timeout_sec"] == 60
    assert ours["tool_timeout_sec"] == 180
    assert servers["other"]["transport"]["args"] == ["-y", "other-server"]


def test_codex_installs_the_plugin_from_the_marketplace(home: Path, project: Path, tmp_path: Path) -> None:
    codex = _tool("codex")
    repo = _repo_copy(tmp_path)
    env = _env(home)

    _run([codex, "plugin", "marketplace", "add", str(repo)], env=env, cwd=project)
    _run([codex, "plugin", "add", "runapi@runapi-mcp"], env=env, cwd=project)
    listed = json.loads(_run([codex, "mcp", "list", "--json"], env=env, cwd=project).stdout)

    (ours,) = [s for s in listed if s["name"] == "runapi"]
    assert ours["transport"]["args"] == [f"runapi-mcp@{VERSION}"]
    assert ours["transport"]["env_vars"] == ["RUNAPI_API_KEY", "RUNAPI_BASE_URL"]
    assert ours["tool_timeout_sec"] == 180
