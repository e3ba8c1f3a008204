"""`runapi-mcp demo`, a newcomer's first command: the whole loop with no key, files where it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.environments import child_env

# The console script lives beside this interpreter (the venv's bin).
PATH = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])


def test_demo_generates_and_edits_without_a_key_and_says_where_the_files_are(tmp_path: Path) -> None:
    env = child_env(tmp_path, PATH=PATH, RUNAPI_API_KEY="must-not-be-needed")
    done = subprocess.run(
        ["runapi-mcp", "demo", "--output-dir", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(pngs) == 2 and all(p.with_name(p.name + ".json").is_file() for p in pngs)
    assert str(tmp_path / "out") in done.stdout
    assert "must-not-be-needed" not in done.stdout + done.stderr
