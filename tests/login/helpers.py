"""Running the real `runapi-mcp` CLI against a sandbox, with the scripted browser as the system browser."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BROWSER_COMMAND = f"{shlex.quote(sys.executable)} -m tests.login.browser %s"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def cli_env(home: Path, base_url: str, **extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "RUNAPI_BASE_URL": base_url}
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "runapi_mcp", *args],
        env=env,
        cwd=ROOT,  # so the BROWSER command finds tests.login.browser
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def config_path(home: Path) -> Path:
    return home / ".config" / "runapi" / "config.json"


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under root whose bytes contain needle."""
    hits: list[Path] = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            hits.append(path)
    return hits
