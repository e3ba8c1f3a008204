"""What `runapi-mcp init codex` writes lets `codex exec` run our tools, used unchanged.

The only addition to the written config.toml is the scripted model as Codex's provider. `--command`
points the entry at this checkout on the sandbox (offline there is no `uvx runapi-mcp` to fetch).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from runapi_mcp.install import apply_init, plan_init
from tests.hostbench.fake_model import Script, Step
from tests.hostbench.hosts import cli, run_codex

pytestmark = [
    pytest.mark.npm,
    pytest.mark.timeout(300),
    pytest.mark.skipif(sys.platform.startswith("win"), reason="the CLIs are driven through POSIX shells here"),
]

COMMAND = shlex.join([sys.executable, "-m", "runapi_mcp", "--sandbox"])


def _init_codex(tmp_path: Path, *, approve_tools: bool) -> str:
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    project = tmp_path / "project"
    project.mkdir()
    plan = plan_init(
        "codex",
        user=True,
        command=COMMAND,
        project_dir=project,
        home=home,
        forward_key=True,
        approve_tools=approve_tools,
    )
    apply_init(plan)
    return plan.path.read_text()


def test_codex_exec_generates_an_image_with_the_config_init_codex_approve_tools_wrote(tmp_path: Path) -> None:
    cli("codex")
    written = _init_codex(tmp_path / "init", approve_tools=True)
    assert 'default_tools_approval_mode = "approve"' in written
    script = Script([Step("generate_image", {"prompt": "a red fox"})])

    session = run_codex(script, tmp_path / "run", server_toml=written)

    assert len(script.replies) == 1, session.stdout[-3000:] + session.stderr[-2000:]
    reply = script.replies[0]
    assert "requires approval" not in reply.text
    assert len(reply.images) == 1 and ": completed." in reply.text and "saved to runapi-images/" in reply.text


def test_without_approve_tools_codex_exec_refuses_paid_tools_but_runs_get_task(tmp_path: Path) -> None:
    cli("codex")
    written = _init_codex(tmp_path / "init", approve_tools=False)
    script = Script([Step("generate_image", {"prompt": "a red fox"}), Step("get_task", {"task_id": "no-such-task"})])

    session = run_codex(script, tmp_path / "run", server_toml=written)

    assert len(script.replies) == 2, session.stdout[-3000:] + session.stderr[-2000:]
    paid, free = script.replies
    assert "requires approval" in paid.text and paid.images == []
    assert "requires approval" not in free.text and "no-such-task" in free.text
