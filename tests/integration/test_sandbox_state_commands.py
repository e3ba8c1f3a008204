"""The `demo` and `sandbox` commands say where the sandbox's account lives, and `sandbox --reset` clears it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from tests.support.environments import child_env
from tests.support.processes import START_TIMEOUT_SECONDS, stop_process

# The console script lives beside this interpreter (the venv's bin).
PATH = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])


def test_the_demo_says_where_the_account_is_kept_and_reset_deletes_it(tmp_path: Path) -> None:
    env = child_env(tmp_path, PATH=PATH, RUNAPI_MCP_STATE_DIR=str(tmp_path / "state"))
    demo = subprocess.run(
        ["runapi-mcp", "demo", "--output-dir", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    saved = tmp_path / "state" / "sandbox.sqlite3"
    assert f"Sandbox state: {saved}" in demo.stdout
    with closing(sqlite3.connect(saved)) as db:
        assert db.execute("SELECT count(*) FROM tasks").fetchone() == (2,)  # the generate and the edit

    reset = subprocess.run(
        ["runapi-mcp", "sandbox", "--reset"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert reset.returncode == 0, reset.stderr
    assert str(saved) in reset.stdout and str(tmp_path / "state" / "sandbox-journal.sqlite3") in reset.stdout
    assert not saved.exists() and not (tmp_path / "state" / "sandbox-journal.sqlite3").exists()


def test_the_standalone_sandbox_says_it_keeps_nothing_unless_told_to_persist(tmp_path: Path) -> None:
    env = child_env(tmp_path, RUNAPI_MCP_STATE_DIR=str(tmp_path / "state"))
    log = tmp_path / "sandbox.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "runapi_mcp.sandbox", "--port", "0"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while "Sandbox state:" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
    finally:
        stop_process(process)
    assert "Sandbox state: in memory only" in log.read_text() and "--persist" in log.read_text()
    assert not (tmp_path / "state").exists()


def test_a_damaged_saved_account_stops_the_sandbox_server_with_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "sandbox.sqlite3").write_bytes(b"not a database at all, but long enough to be read as a header")
    started = subprocess.run(
        [sys.executable, "-m", "runapi_mcp", "--sandbox"],
        env=child_env(tmp_path, RUNAPI_MCP_STATE_DIR=str(state)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 1
    assert f"The saved sandbox state {state / 'sandbox.sqlite3'} cannot be read" in started.stderr
    assert "runapi-mcp sandbox --reset" in started.stderr and "Traceback" not in started.stderr
