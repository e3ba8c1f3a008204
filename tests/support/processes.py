"""The real server as a child process: over stdio, or over streamable HTTP on a port it picks itself.

A server started with `--port 0` binds a free port and announces `... at http://127.0.0.1:PORT/mcp` on
stderr; the starter reads the URL from there. No port is chosen before the server binds it, so no other
process can take it in between.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mcp import StdioServerParameters

from tests.support.environments import project_dir

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
ANNOUNCED_URL = re.compile(r"at (http://127\.0\.0\.1:\d+)/mcp")


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "runapi_mcp", *args]


def stdio_params(cwd: Path, env: dict[str, str]) -> StdioServerParameters:
    """The server over stdio, for the SDK's `Client`, run in `cwd` with exactly `env`."""
    return StdioServerParameters(command=sys.executable, args=["-m", "runapi_mcp"], env=env, cwd=str(cwd))


@contextmanager
def http_server_process(
    tmp_path: Path, env: dict[str, str], *, name: str = "server", args: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`runapi-mcp --transport http --port 0` as a child; yields its base URL (no /mcp) and the process.

    It runs in `tmp_path/project` unless `name` gives it a folder of its own; its stderr goes to
    `tmp_path/<name>.log` (a file never fills up and blocks the server the way an unread pipe can).
    """
    cwd = project_dir(tmp_path) if name == "server" else tmp_path / name
    cwd.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            server_command("--transport", "http", "--port", "0", *args),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        yield wait_for_announced_url(process, log), process
    finally:
        stop_process(process)


def wait_for_announced_url(process: subprocess.Popen[bytes], log: Path) -> str:
    """The base URL the server announces in `log`; fails with the log's tail if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while (found := ANNOUNCED_URL.search(log.read_text(errors="replace"))) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return found.group(1)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill if it will not go: a test never leaves a server behind."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
