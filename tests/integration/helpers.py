"""Run the installed server as a real process: over stdio through the MCP SDK, or as an HTTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from mcp import StdioServerParameters

TEST_KEY = "sk-integration-7f3e9c1d"


def server_env(tmp_path: Path, base_url: str, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "RUNAPI_BASE_URL": base_url,
        "RUNAPI_API_KEY": TEST_KEY,
        "RUNAPI_MCP_STATE_DIR": str(tmp_path / "state"),
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.05",
        "RUNAPI_MCP_POLL_MAX_SECONDS": "0.2",
    }
    env.update(extra)
    return env


def project_dir(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return project


def stdio_params(tmp_path: Path, base_url: str, **extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "runapi_mcp"],
        env=server_env(tmp_path, base_url, **extra),
        cwd=str(project_dir(tmp_path)),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(
    tmp_path: Path, base_url: str, port: int | None = None, **extra: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The server as a subprocess on streamable HTTP; yields its /mcp URL and the process."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "runapi_mcp", "--transport", "http", "--port", str(port)],
        env=server_env(tmp_path, base_url, **extra),
        cwd=project_dir(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read().decode() if process.stderr else ''}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if it will not go: a test never leaves a server behind."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
