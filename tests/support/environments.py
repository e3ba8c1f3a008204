"""Environment builders: the variables a child process gets, and the `Settings` an in-process server gets.

Every world lives under the test's tmp_path (home, state, project), and RunAPI is always on loopback.
"""

from __future__ import annotations

import atexit
import os
import socket
from pathlib import Path
from typing import Any

from runapi_mcp.settings import Settings

# Distinctive enough that finding it anywhere in output can only mean it leaked.
TEST_KEY = "sk-test-4b1d5e9a0c7f"

# A child process shares two cores with the test and the sandbox: it polls less often than an in-process server.
_CHILD_POLLING = {"RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.05", "RUNAPI_MCP_POLL_MAX_SECONDS": "0.2"}


def project_dir(tmp_path: Path) -> Path:
    """The folder a server runs in (its working directory, where images are saved by default)."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return project


def home_dir(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return home


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The smallest environment for a child process: PATH, and a HOME of its own (no user config leaks in)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home")}
    # Under coverage the child measures itself too (pyproject's [tool.coverage.run] patch = subprocess).
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    env.update(extra)
    return env


def runapi_env(tmp_path: Path, base_url: str, **extra: str) -> dict[str, str]:
    """The server's settings as environment variables: RunAPI at `base_url`, a test key, fast polling."""
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
    values.update(extra)
    return values


def server_process_env(tmp_path: Path, base_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server child process talking to RunAPI at `base_url`; `extra` wins, "" unsets."""
    values = runapi_env(tmp_path, base_url, **{**_CHILD_POLLING, **extra})
    return child_env(tmp_path, **{k: v for k, v in values.items() if v != ""})


def load_settings(
    tmp_path: Path, values: dict[str, str], *, fallback_output_dir: Path | None = None, **overrides: Any
) -> Settings:
    """`Settings.load` on exactly `values` (an empty value means "unset"), run in the test's project folder.

    `overrides` are field values, as the serve command's flags give them (`transport="http"`).
    """
    if fallback_output_dir is not None:
        overrides["fallback_output_dir"] = fallback_output_dir
    env = {k: v for k, v in values.items() if v != ""}
    return Settings.load(env=env, working_dir=project_dir(tmp_path), **overrides)


def server_settings(tmp_path: Path, base_url: str, **env: str) -> Settings:
    """Settings for an in-process server on RunAPI at `base_url`; keyword arguments are environment variables."""
    return load_settings(tmp_path, runapi_env(tmp_path, base_url, **env))


def http_settings(tmp_path: Path, base_url: str, **env: str) -> Settings:
    """`server_settings` as `--transport http` loads them (validated the same way)."""
    return load_settings(tmp_path, runapi_env(tmp_path, base_url, **env), transport="http")


def offline_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings with no key and RunAPI on a loopback port that refuses connections, unless `env` says otherwise."""
    values = {
        "HOME": str(tmp_path / "home"),
        "RUNAPI_MCP_STATE_DIR": str(tmp_path / "state"),
        "RUNAPI_BASE_URL": refused_url(),
    }
    values.update(env)
    return load_settings(tmp_path, values, fallback_output_dir=tmp_path / "fallback-images")


_refusing: socket.socket | None = None


def refused_port() -> int:
    """A loopback port that refuses every connection for the whole test run.

    The socket stays bound and never listens, so no other process can take the port in the meantime
    (a port bound and released again could be taken before the test connects).
    """
    global _refusing
    if _refusing is None:
        _refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        _refusing.bind(("127.0.0.1", 0))
        atexit.register(_refusing.close)
    return int(_refusing.getsockname()[1])


def refused_url() -> str:
    return f"http://127.0.0.1:{refused_port()}"
