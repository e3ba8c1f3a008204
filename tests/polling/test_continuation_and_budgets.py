"""A continuation never reads twice in a row, and the wait budget follows the host (issue 13 item 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runapi_mcp.core.config import HOST_WAIT_SECONDS
from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.settings import Settings, SettingsError
from tests.polling.conftest import CREATE, script_faults, task_of
from tests.server.helpers import ClientFactory, make_settings, text_of

pytestmark = pytest.mark.anyio


async def test_a_get_task_right_after_a_calls_last_read_does_not_read_again(
    connect: ClientFactory, sandbox: RunningSandbox
) -> None:
    await script_faults(sandbox, {"fault": "slow;seconds=3", "method": "POST", "path": CREATE, "count": 1})
    env = {
        "RUNAPI_MCP_WAIT_SECONDS": "0.5",
        "RUNAPI_MCP_POLL_INITIAL_SECONDS": "0.2",
        "RUNAPI_MCP_POLL_MAX_SECONDS": "0.2",
    }
    async with connect(**env) as client:
        first = await client.call_tool("generate_image", {"prompt": "long one"})
        reads = sandbox.state.requests["status"]
        at_once = await client.call_tool("get_task", {"task_id": task_of(first)["task_id"]})
        assert sandbox.state.requests["status"] == reads  # the journal's state is milliseconds old
        assert task_of(at_once)["next_action"] == "get_task", text_of(at_once)
        done = await client.call_tool("get_task", {"task_id": task_of(first)["task_id"], "wait": True})
        for _ in range(10):
            if task_of(done)["status"] == "completed":
                break
            done = await client.call_tool("get_task", {"task_id": task_of(first)["task_id"], "wait": True})
    assert task_of(done)["status"] == "completed", text_of(done)


def test_the_wait_budget_follows_the_host_and_can_be_overridden(tmp_path: Path) -> None:
    config = make_settings(tmp_path, "http://127.0.0.1:9", RUNAPI_MCP_WAIT_SECONDS="40").core_config()
    assert config.wait_budget(None) == 40.0
    assert config.wait_budget("some-other-host") == 40.0
    assert config.wait_budget("claude-code") == HOST_WAIT_SECONDS["claude-code"] >= 90  # a 60 s task in one call
    assert config.wait_budget("codex-mcp-client") == 50.0  # under Codex's default 60 s tool timeout
    raised = make_settings(tmp_path, "http://127.0.0.1:9", RUNAPI_MCP_HOST_WAIT_SECONDS="codex-mcp-client=170")
    assert raised.core_config().wait_budget("codex-mcp-client") == 170.0


@pytest.mark.parametrize("value", ["codex", "codex=lots", "=5", "codex=601"])
def test_a_bad_host_budget_is_refused_in_one_sentence(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        make_settings(tmp_path, "http://127.0.0.1:9", RUNAPI_MCP_HOST_WAIT_SECONDS=value)
    assert "RUNAPI_MCP_HOST_WAIT_SECONDS" in str(caught.value) and "Traceback" not in str(caught.value)


@pytest.mark.parametrize("value", ["notaurl", "https://user:pw@mcp.example.com", "https://mcp.example.com/?t=1"])
def test_a_bad_public_url_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        make_settings(tmp_path, "http://127.0.0.1:9", RUNAPI_MCP_PUBLIC_URL=value)
    assert "RUNAPI_MCP_PUBLIC_URL" in str(caught.value) and "pw" not in str(caught.value)


def test_a_public_url_reaches_the_flow(tmp_path: Path) -> None:
    settings: Settings = make_settings(tmp_path, "http://127.0.0.1:9", RUNAPI_MCP_PUBLIC_URL="https://mcp.example.com/")
    assert settings.core_config().public_url == "https://mcp.example.com"
