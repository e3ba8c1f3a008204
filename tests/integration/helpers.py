"""The old subprocess helpers, for tests not yet moved onto tests/support (new tests use
`tests.support.processes.http_server_process`, which logs to a file rather than a pipe)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcp import StdioServerParameters

from tests.support import processes
from tests.support.environments import project_dir, server_process_env
from tests.support.processes import ANNOUNCED_URL, START_TIMEOUT_SECONDS, server_command, stop_process

__all__ = ["http_server", "project_dir", "stdio_params", "stop_process"]


def stdio_params(tmp_path: Path, base_url: str, **extra: str) -> StdioServerParameters:
    return processes.stdio_params(project_dir(tmp_path), server_process_env(tmp_path, base_url, **extra))


@contextmanager
def http_server(tmp_path: Path, base_url: str, **extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The server on port 0 with its stderr on a pipe (read past the URL it announces); yields its /mcp URL."""
    process = subprocess.Popen(
        server_command("--transport", "http", "--port", "0"),
        env=server_process_env(tmp_path, base_url, **extra),
        cwd=project_dir(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        seen = b""
        while (found := ANNOUNCED_URL.search(seen.decode(errors="replace"))) is None:
            line = process.stderr.readline()
            if (not line and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{seen.decode(errors='replace')[-2000:]}")
            seen += line
        yield f"{found.group(1)}/mcp", process
    finally:
        stop_process(process)  # the pipe stays open: the caller may read what the server wrote after its URL
