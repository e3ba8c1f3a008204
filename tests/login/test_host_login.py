"""Sign-in from inside a host, through the SDK's in-memory Client on both protocol generations.

A client that takes URL elicitation is offered RunAPI's sign-in page and the call returns at once; the
scripted browser approves; the next call finds the saved key. Any other client gets the no-key text and
the `runapi-mcp login` command. The key is never shown to the client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from mcp import Client
from mcp.types import ElicitCompleteNotification, ElicitRequestParams, ElicitRequestURLParams, ElicitResult
from pydantic import SecretStr

from runapi_mcp.login.config_file import save_api_key
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from runapi_mcp.server.errors import NO_KEY
from runapi_mcp.server.host_login import can_sign_in_here
from runapi_mcp.server.login_gate import LOGIN_COMMAND_HINT
from runapi_mcp.settings import Settings
from tests.login.browser import visit
from tests.server.helpers import make_settings, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

MODES = ["legacy", "2026-07-28"]


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.05)) as sb:
        yield sb


def _keyless(tmp_path: Path, sandbox: RunningSandbox) -> Settings:
    return make_settings(tmp_path, sandbox.url, RUNAPI_API_KEY="")


def _config(tmp_path: Path) -> Path:
    return tmp_path / "home" / ".config" / "runapi" / "config.json"


class ScriptedUser:
    """Answers URL elicitations as a person would: agree, and let the browser approve in the background."""

    def __init__(self, group: anyio.abc.TaskGroup, action: str = "accept", browser: bool = True) -> None:
        self.group = group
        self.action = action
        self.browser = browser
        self.asked: list[ElicitRequestURLParams] = []
        self.completed: list[str] = []

    async def elicit(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        assert isinstance(params, ElicitRequestURLParams), params
        self.asked.append(params)
        if self.action == "accept" and self.browser:
            self.group.start_soon(anyio.to_thread.run_sync, visit, params.url)
        return ElicitResult(action=self.action)  # type: ignore[arg-type]

    async def messages(self, message: Any) -> None:
        if isinstance(message, ElicitCompleteNotification):
            self.completed.append(message.params.elicitation_id)


async def _saved_key(config: Path) -> str:
    for _ in range(500):  # up to 10 s for the background exchange
        if config.exists() and "api_key" in (saved := json.loads(config.read_text())):
            return saved["api_key"]
        await anyio.sleep(0.02)
    raise AssertionError(f"no key was saved in {config}")


@pytest.mark.parametrize("mode", MODES)
async def test_a_keyless_call_offers_sign_in_returns_at_once_and_the_next_call_uses_the_new_key(
    tmp_path: Path, sandbox: RunningSandbox, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with anyio.create_task_group() as group:
        user = ScriptedUser(group)
        server = build_server(_keyless(tmp_path, sandbox))
        async with Client(server, mode=mode, elicitation_callback=user.elicit, message_handler=user.messages) as client:
            first = await client.call_tool("get_balance", {})
            key = await _saved_key(_config(tmp_path))
            second = await client.call_tool("get_balance", {})
            await anyio.sleep(0.1)  # the completion notice follows the save

    assert len(user.asked) == 1
    asked = user.asked[0]
    assert asked.url.startswith(f"{sandbox.url}/cli/authorize?state=")
    assert "code" in asked.message and "paste" not in asked.message.lower()
    assert first.is_error
    text = text_of(first)
    assert text.startswith("Not done yet: the user is signing in to RunAPI in the browser (code ")
    assert "call get_balance again" in text and str(_config(tmp_path)) in text
    assert not second.is_error and text_of(second).startswith("Balance $10.00"), text_of(second)
    if mode == "legacy":  # 2025-era clients are told the URL elicitation is done
        assert user.completed == [asked.elicitation_id]
    everything_shown = text + text_of(second) + asked.message + asked.url + caplog.text
    assert key not in everything_shown


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_url_elicitation_gets_the_no_key_text_and_the_login_command(
    tmp_path: Path, sandbox: RunningSandbox, mode: str
) -> None:
    async with Client(build_server(_keyless(tmp_path, sandbox)), mode=mode) as client:
        result = await client.call_tool("generate_image", {"prompt": "a lighthouse"})
    assert result.is_error
    assert text_of(result) == f"{NO_KEY} {LOGIN_COMMAND_HINT}"
    assert "runapi-mcp login" in text_of(result) and "paste" not in text_of(result).lower()


@pytest.mark.parametrize("mode", MODES)
async def test_a_declined_sign_in_stops_listening_and_says_what_else_to_do(
    tmp_path: Path, sandbox: RunningSandbox, mode: str
) -> None:
    async with anyio.create_task_group() as group:
        user = ScriptedUser(group, action="decline")
        server = build_server(_keyless(tmp_path, sandbox))
        async with Client(server, mode=mode, elicitation_callback=user.elicit) as client:
            result = await client.call_tool("get_balance", {})
            port = int(httpx2.URL(user.asked[0].url).params["redirect_port"])
            still_listening = [await _listening(port) for _ in range(1)]
            for _ in range(250):
                if not still_listening[-1]:
                    break
                await anyio.sleep(0.02)
                still_listening.append(await _listening(port))
    assert not still_listening[-1], "the loopback listener is still open after the decline"
    assert result.is_error
    assert text_of(result) == f"Sign-in was not accepted. {NO_KEY} {LOGIN_COMMAND_HINT}"
    assert not _config(tmp_path).exists()


@pytest.mark.parametrize("mode", MODES)
async def test_calls_while_a_sign_in_waits_reuse_it_rather_than_start_another(
    tmp_path: Path, sandbox: RunningSandbox, mode: str
) -> None:
    async with anyio.create_task_group() as group:
        user = ScriptedUser(group, browser=False)
        server = build_server(_keyless(tmp_path, sandbox))
        async with Client(server, mode=mode, elicitation_callback=user.elicit) as client:
            await client.call_tool("get_balance", {})
            await client.call_tool("generate_image", {"prompt": "x"})
    assert len(user.asked) == 2 and user.asked[0].url == user.asked[1].url


async def test_a_key_saved_by_runapi_mcp_login_while_the_server_runs_is_used_by_the_next_call(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    async with Client(build_server(_keyless(tmp_path, sandbox))) as client:
        before = await client.call_tool("get_balance", {})
        save_api_key(_config(tmp_path), SecretStr("sk-saved-from-a-terminal-1234"))
        after = await client.call_tool("get_balance", {})
    assert before.is_error and not after.is_error
    assert text_of(after).startswith("Balance $10.00")


async def test_a_key_from_the_environment_is_not_replaced_by_the_file(tmp_path: Path) -> None:
    async with running_sandbox(SandboxConfig(accepted_keys=frozenset({"sk-env-key-0000"}))) as sandbox:
        settings = make_settings(tmp_path, sandbox.url, RUNAPI_API_KEY="sk-env-key-0000")
        save_api_key(_config(tmp_path), SecretStr("sk-file-key-that-sandbox-refuses"))
        async with Client(build_server(settings)) as client:
            result = await client.call_tool("get_balance", {})
    assert not result.is_error, text_of(result)


async def _listening(port: int) -> bool:
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        return False
    await stream.aclose()
    return True


async def test_an_unwritable_config_folder_is_reported_before_the_user_is_asked_anything(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    blocked = _config(tmp_path).parent
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the folder must go")
    async with anyio.create_task_group() as group:
        user = ScriptedUser(group)
        server = build_server(_keyless(tmp_path, sandbox))
        async with Client(server, mode="legacy", elicitation_callback=user.elicit) as client:
            result = await client.call_tool("get_balance", {})
    assert user.asked == []
    assert result.is_error
    text = text_of(result)
    assert text.startswith(f"Cannot sign in from here: Cannot write the RunAPI config file in {blocked} ")
    assert text.endswith(NO_KEY)


@pytest.mark.parametrize(
    ("overrides", "env", "expected"),
    [
        ({}, {}, True),  # stdio: the browser is on this machine
        ({"transport": "http"}, {}, True),  # HTTP on loopback
        ({"transport": "http", "http_stateless": True}, {}, False),  # replicas: the callback may hit another
        ({"transport": "http", "http_host": "0.0.0.0"}, {}, False),  # the browser is elsewhere
        ({"transport": "http"}, {"RUNAPI_MCP_HTTP_AUTH": "per-request"}, False),  # callers bring their own keys
        ({"sandbox": True}, {}, False),
    ],
)
def test_sign_in_from_a_host_is_offered_only_where_the_browser_can_reach_the_server(
    tmp_path: Path, overrides: dict[str, Any], env: dict[str, str], expected: bool
) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9", RUNAPI_API_KEY="", **env)
    assert can_sign_in_here(settings.model_copy(update=overrides)) is expected
