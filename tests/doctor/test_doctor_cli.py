"""`runapi-mcp doctor` through the installed console script, in a controlled environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.doctor.helpers import SANDBOX_COMMAND, TEST_KEY, one, write_host_config
from tests.support.environments import child_env, home_dir, project_dir, refused_port

SCRIPT = Path(sys.executable).parent / ("runapi-mcp.exe" if sys.platform.startswith("win") else "runapi-mcp")


def _doctor(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    home_dir(tmp_path)
    base = child_env(
        tmp_path,
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        XDG_PICTURES_DIR=str(tmp_path / "pictures"),
        RUNAPI_MCP_STATE_DIR=str(tmp_path / "state"),
    )
    return subprocess.run(
        [str(SCRIPT), "doctor", *args],
        cwd=project_dir(tmp_path),
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_console_script_passes_with_sandbox_and_starts_the_configured_host(tmp_path: Path) -> None:
    """`runapi-mcp doctor --sandbox` passes, starts the configured host's command and never prints the key."""
    write_host_config("claude", tmp_path, SANDBOX_COMMAND)

    done = _doctor(tmp_path, "--sandbox", RUNAPI_API_KEY=TEST_KEY)

    assert done.returncode == 0, done.stdout + done.stderr
    assert one(done.stdout, "api key") == "ok    api key: none needed: checking against the in-process sandbox"
    assert one(done.stdout, "host Claude Code (project)").startswith("ok    host Claude Code (project): ")
    assert " starts and lists " in one(done.stdout, "host Claude Code (project)")
    assert done.stdout.rstrip().endswith("0 failures, 0 warnings, 7 passed.")
    assert TEST_KEY not in done.stdout + done.stderr


def test_console_script_exits_1_when_checks_fail(tmp_path: Path) -> None:
    done = _doctor(tmp_path, "--no-start", RUNAPI_BASE_URL=f"http://127.0.0.1:{refused_port()}")

    assert done.returncode == 1
    assert one(done.stdout, "api key").startswith("FAIL  api key: no key found.")
    assert one(done.stdout, "base url").startswith("FAIL  base url: Could not reach")
    assert "Traceback" not in done.stderr
