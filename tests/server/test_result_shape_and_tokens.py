"""Results shaped per client at initialize, and the token budget counted with o200k_base.

Driven through the in-memory MCP client, which declares the clientInfo a host sends; the host bench
(tests/hostbench) proves in the real CLIs what these shapes give the model.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ImageContent, Implementation, ResourceLink

from bench import o200k
from bench.result_tokens import MAX_CONTEXT_TAX, MAX_ONE_IMAGE_RESULT, context_tax, result_tokens
from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.server import build_server
from runapi_mcp.server.client_profile import result_shape
from tests.support.environments import server_settings
from tests.support.mcp_http import text_of

pytestmark = pytest.mark.anyio

CLAUDE = Implementation(name="claude-code", version="2.1.332")
CODEX = Implementation(name="codex-mcp-client", version="0.171.0")
UNKNOWN = Implementation(name="some-new-host", version="1.0")


@pytest.fixture
def as_client(tmp_path: Path, sandbox: RunningSandbox):
    @asynccontextmanager
    async def factory(info: Implementation | None, **env: str) -> AsyncIterator[Client]:
        settings = server_settings(tmp_path, sandbox.url, **env)
        kwargs: dict[str, Any] = {"client_info": info} if info is not None else {}
        async with Client(build_server(settings), **kwargs) as client:
            yield client

    return factory


def _require_ranks() -> None:
    try:
        o200k.ranks_file()
    except o200k.RanksNotFound as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


@pytest.mark.parametrize("info", [CLAUDE, CODEX, UNKNOWN], ids=["claude-code", "codex", "unknown"])
async def test_hosts_and_unknown_clients_get_text_and_image_without_structured_content_or_output_schema(
    as_client, info: Implementation
) -> None:
    async with as_client(info) as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool("generate_image", {"prompt": "a red fox"})
    assert all(t.output_schema is None for t in tools)
    assert result.structured_content is None
    assert len([c for c in result.content if isinstance(c, ImageContent)]) == 1
    text = text_of(result)
    assert "saved to runapi-images/" in text and "URL: " in text and "Cost: $0.06" in text
    links = [c for c in result.content if isinstance(c, ResourceLink)]
    assert len(links) == (1 if info is UNKNOWN else 0)  # the hosts turn links into text repeating the path


async def test_the_python_sdk_client_gets_structured_content_complete_on_its_own(as_client) -> None:
    async with as_client(None) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("generate_image", {"prompt": "a red fox", "wait": False})
    assert tools["generate_image"].output_schema is not None
    task = result.structured_content["tasks"][0]
    assert task["next_action"] == "get_task" and "wait=true" in task["next_step"]


@pytest.mark.parametrize(("setting", "structured"), [("true", True), ("false", False), ("auto", False)])
async def test_the_setting_overrides_the_choice_for_a_host(as_client, setting: str, structured: bool) -> None:
    async with as_client(CLAUDE, RUNAPI_MCP_STRUCTURED_OUTPUT=setting) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("generate_image", {"prompt": "a red fox"})
    assert (tools["generate_image"].output_schema is not None) is structured
    assert (result.structured_content is not None) is structured


def test_the_decision_is_a_pure_function_of_what_the_client_declared() -> None:
    assert not result_shape("claude-code", "2.1.332", {}, "2026-07-28").structured
    assert not result_shape("codex-mcp-client", "0.171.0", {}, "2025-06-18").structured
    assert result_shape("mcp", "0.1.0", {}, "2025-11-25").structured
    assert not result_shape(None, None, None, "2025-11-25").structured
    assert not result_shape("mcp", "0.1.0", {}, "2025-03-26").structured  # no structured output before 06-18
    assert result_shape("claude-code", "2.1.332", {}, "2026-07-28", "true").structured
    assert not result_shape("mcp", "0.1.0", {}, "2025-11-25", False).output_schema


async def test_context_tax_as_claude_code_receives_it_fits_the_o200k_budget(as_client) -> None:
    _require_ranks()
    async with as_client(CLAUDE) as client:
        tools = (await client.list_tools()).tools
        instructions = client.instructions or ""
    listed, told = context_tax(tools, instructions)
    assert listed + told <= MAX_CONTEXT_TAX, f"tools/list {listed} + instructions {told} o200k tokens"


async def test_a_one_image_result_as_a_host_receives_it_fits_the_o200k_budget_with_its_preview(as_client) -> None:
    _require_ranks()
    async with as_client(CODEX) as client:
        result = await client.call_tool("generate_image", {"prompt": "a watercolour fox in a snowy forest"})
    text, image, sizes = result_tokens(result)
    assert sizes == [(512, 512)]  # the preview is still there
    assert text + image <= MAX_ONE_IMAGE_RESULT, f"text {text} + preview {image} tokens"


def test_the_tokenizer_is_o200k_base() -> None:
    _require_ranks()
    assert o200k.encoding().encode("hello world") == [24912, 2375]
    assert o200k.encoding().n_vocab == 200019


def _wait_descriptions(tools: list[Any]) -> dict[str, str]:
    return {
        t.name: t.input_schema["properties"]["wait"]["description"]
        for t in tools
        if "wait" in t.input_schema.get("properties", {})
    }


@pytest.mark.parametrize(
    ("info", "env", "bound"),
    [(CLAUDE, {}, "~110 s"), (CODEX, {}, "~50 s"), (UNKNOWN, {"RUNAPI_MCP_WAIT_SECONDS": "90"}, "~90 s")],
    ids=["claude-code", "codex", "configured"],
)
async def test_the_wait_parameters_state_the_budget_this_host_really_gets(
    as_client, info: Implementation, env: dict[str, str], bound: str
) -> None:
    async with as_client(info, **env) as client:
        descriptions = _wait_descriptions((await client.list_tools()).tools)
    assert set(descriptions) == {"generate_image", "edit_image", "get_task"}
    assert all(bound in text for text in descriptions.values()), descriptions
