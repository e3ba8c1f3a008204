"""`runapi-mcp init` writes a launch command that works where it runs: from a checkout (not on an index) the
host runs this interpreter with `-m runapi_mcp`; an index install keeps `uvx runapi-mcp`; --command wins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.support.environments import child_env, project_dir

ROOT = Path(__file__).resolve().parents[2]
PIP_QUIET = ["-q", "--disable-pip-version-check", "--no-input"]


def init(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    project = project_dir(tmp_path)
    env = child_env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "runapi_mcp", "init", "claude", "--project-dir", str(project), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["runapi"]
    return done, entry


@pytest.mark.anyio
async def test_init_from_a_checkout_writes_this_interpreter_and_the_host_can_start_it(tmp_path: Path) -> None:
    done, entry = init(tmp_path)
    assert entry["command"] == str(Path(sys.executable).absolute())
    assert entry["args"] == ["-m", "runapi_mcp"]
    assert "not installed from a package index" in done.stdout and "uvx runapi-mcp" in done.stdout
    # Start it as a host would: the written command and args, another folder, a bare PATH, no key.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    params = StdioServerParameters(
        command=str(entry["command"]),
        args=[str(a) for a in entry["args"]],  # type: ignore[union-attr]
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")},
        cwd=str(elsewhere),
    )
    async with Client(params, read_timeout_seconds=60) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
    assert {"generate_image", "edit_image", "get_task"} <= tools


def test_command_option_still_overrides_the_launch(tmp_path: Path) -> None:
    _, entry = init(tmp_path, "--command", "uvx runapi-mcp")
    assert entry["command"] == "uvx" and entry["args"] == ["runapi-mcp"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real wheel of this checkout, built from a copy so that the checkout gets no build/ folder."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "runapi_mcp", source / "runapi_mcp", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *PIP_QUIET, "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("runapi_mcp-*.whl"))


def launch_of_install(tmp_path: Path, *pip_args: str) -> str:
    """Install with pip into a folder, then ask that copy what init would write."""
    target = tmp_path / "target"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", *PIP_QUIET, "--no-deps", "--target", str(target), *pip_args],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "from runapi_mcp.install.launch import install_kind, launch_here; "
        "print(install_kind(), launch_here().display())"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_an_install_from_a_package_index_keeps_uvx(tmp_path: Path, wheel: Path) -> None:
    # --find-links is an index as far as pip's records go: no direct_url.json, as from PyPI.
    shown = launch_of_install(tmp_path, "--no-index", "--find-links", str(wheel.parent), "runapi-mcp")
    assert shown == "index uvx runapi-mcp"


def test_an_install_of_a_local_wheel_runs_this_interpreter(tmp_path: Path, wheel: Path) -> None:
    shown = launch_of_install(tmp_path, str(wheel))
    assert shown == f"local {Path(sys.executable).absolute()} -m runapi_mcp"


def _claude() -> str:
    bin_dir = os.environ.get("RUNAPI_MCP_TEST_NPM_BIN")
    if bin_dir and (Path(bin_dir) / "claude").exists():
        return str(Path(bin_dir) / "claude")
    found = shutil.which("claude")
    if found is None:
        pytest.skip("`claude` is not installed (set RUNAPI_MCP_TEST_NPM_BIN to a node_modules/.bin folder)")
    return found


@pytest.mark.npm
def test_claude_code_connects_to_what_init_writes_from_a_checkout(tmp_path: Path) -> None:
    # Before, init wrote `uvx runapi-mcp`, and `claude mcp list` said "Failed to connect" from a checkout.
    claude = _claude()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps({"numStartups": 3, "mcpServers": {}}))
    env = {
        "HOME": str(home),
        "PATH": f"{Path(claude).parent}{os.pathsep}/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    subprocess.run(
        [sys.executable, "-m", "runapi_mcp", "init", "claude", "--user"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listing = subprocess.run(
        [claude, "mcp", "list"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90, check=True
    ).stdout
    line = next(line for line in listing.splitlines() if line.startswith("runapi:"))
    assert "Connected" in line and "-m runapi_mcp" in line
