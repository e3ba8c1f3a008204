"""The Codex plugin, installed from our marketplace, lets `codex exec` run get_task without a prompt.

`uvx runapi-mcp@VERSION` (the plugin's command) is replaced on PATH by a shim that runs this checkout on
the sandbox, since nothing can be fetched offline; the plugin's files are used as shipped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostbench.fake_model import Script, Step
from tests.hostbench.hosts import base_env, cli, run_codex

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.npm,
    pytest.mark.timeout(300),
    pytest.mark.skipif(sys.platform.startswith("win"), reason="the CLIs are driven through POSIX shells here"),
]


def test_the_installed_codex_plugin_runs_get_task_unprompted_and_asks_for_paid_tools(tmp_path: Path) -> None:
    codex = cli("codex")
    repo = tmp_path / "repo"
    for folder in (".agents", "manifests"):
        shutil.copytree(REPO / folder, repo / folder)
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    (shim_dir / "uvx").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m runapi_mcp --sandbox\n')
    (shim_dir / "uvx").chmod(0o755)
    home = tmp_path / "run" / "home"
    (home / ".codex").mkdir(parents=True)
    env = base_env(home) | {"PATH": f"{shim_dir}:{base_env(home)['PATH']}"}
    for args in (["plugin", "marketplace", "add", str(repo)], ["plugin", "add", "runapi@runapi-mcp"]):
        done = subprocess.run([codex, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stdout + done.stderr
    script = Script([Step("get_task", {"task_id": "no-such-task"}), Step("generate_image", {"prompt": "a fox"})])

    session = run_codex(script, tmp_path / "run", server_toml="", path_prefix=shim_dir)

    assert len(script.replies) == 2, session.stdout[-3000:] + session.stderr[-2000:]
    free, paid = script.replies
    assert "requires approval" not in free.text and "no-such-task" in free.text
    assert "requires approval" in paid.text
