"""Child processes for the crash tests: the real server on a loopback port it announces, and small scripts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.helpers import stop_process

START_TIMEOUT_SECONDS = 30.0
_ANNOUNCE = re.compile(r"at (http://127\.0\.0\.1:\d+)/mcp")


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
    }
    env.update(extra)
    return env


@contextmanager
def server_process(tmp_path: Path, name: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`runapi-mcp --transport http --port 0` as a child; yields its base URL (read from its log) and the process."""
    log = tmp_path / f"{name}.log"
    project = tmp_path / name
    project.mkdir(exist_ok=True)
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "runapi_mcp", "--transport", "http", "--port", "0"],
            env=env, cwd=project, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while (found := _ANNOUNCE.search(log.read_text(errors="replace"))) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield found.group(1), process
    finally:
        stop_process(process)
