"""RunAPI's prompt library: the sandbox's `GET /api/v1/prompts`, the client, and the MCP prompts over it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import GetPromptResult, TextContent

from runapi_mcp.runapi.client import RunAPIClient
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.sandbox.prompts import LIBRARY
from runapi_mcp.server import build_server
from runapi_mcp.server.prompts import SEARCH_PROMPT
from tests.server.helpers import make_settings

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

FEATURED = [p for p in LIBRARY if p["featured"]]
TOOLS = {"generate_image", "edit_image", "get_task", "list_tasks", "get_pricing", "get_balance"}


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.05)) as sb:
        yield sb


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _message_text(result: GetPromptResult) -> str:
    return "\n".join(m.content.text for m in result.messages if isinstance(m.content, TextContent))


# -- the sandbox endpoint ---------------------------------------------------------------------------------


async def test_the_sandbox_library_filters_like_runapi_and_needs_no_key(sandbox: RunningSandbox) -> None:
    async with httpx2.AsyncClient(base_url=sandbox.url) as http:

        async def ids(**params: str) -> list[str]:
            answer = await http.get("/api/v1/prompts", params=params)
            assert answer.status_code == 200, answer.text
            return [p["id"] for p in answer.json()["prompts"]]

        everything = await http.get("/api/v1/prompts")
        body = everything.json()
        assert body["pagination"] == {"page": 1, "per_page": 20, "total": len(LIBRARY), "pages": 1}
        assert set(body["prompts"][0]) >= {
            "id",
            "title",
            "prompt",
            "model",
            "service",
            "action",
            "modality",
            "category",
            "tags",
            "featured",
        }
        edits = await ids(modality="image_edit")
        assert edits and all(p["action"] == "edit_image" for p in LIBRARY if p["id"] in edits)
        assert await ids(tags="edit,background") == ["sbx-prompt-013"]  # every tag must match
        assert await ids(q="poster") == ["sbx-prompt-006"]
        assert await ids(q="NIGHT train") == ["sbx-prompt-006"]  # words anywhere, any case
        assert await ids(category="Typography") == ["sbx-prompt-006", "sbx-prompt-007"]
        assert await ids(featured="true") == [p["id"] for p in FEATURED]
        assert await ids(model="gpt-image-2", featured="false") == [p["id"] for p in LIBRARY if not p["featured"]]
        assert await ids(model="another-model") == []


async def test_the_sandbox_library_pages_and_refuses_bad_paging(sandbox: RunningSandbox) -> None:
    async with httpx2.AsyncClient(base_url=sandbox.url) as http:
        last = (await http.get("/api/v1/prompts", params={"per_page": "5", "page": "4"})).json()
        assert [p["id"] for p in last["prompts"]] == [LIBRARY[15]["id"]]
        assert last["pagination"] == {"page": 4, "per_page": 5, "total": 16, "pages": 4}
        beyond = (await http.get("/api/v1/prompts", params={"per_page": "5", "page": "9"})).json()
        assert beyond["prompts"] == [] and beyond["pagination"]["total"] == 16
        for bad in ({"per_page": "101"}, {"per_page": "0"}, {"page": "0"}, {"page": "x"}, {"featured": "maybe"}):
            answer = await http.get("/api/v1/prompts", params=bad)
            assert answer.status_code == 422 and "error" in answer.json(), bad


async def test_the_client_searches_the_library_into_typed_prompts(sandbox: RunningSandbox) -> None:
    async with httpx2.AsyncClient() as http:
        client = RunAPIClient(http, base_url=sandbox.url, api_key=None)
        page = await client.search_prompts(tags=("typography",), per_page=1)
    assert page.pagination.total == 2 and page.pagination.pages == 2
    assert [p.title for p in page.prompts] == ["Poster with a clear headline"]
    assert page.prompts[0].tags == ["typography", "poster", "text"] and page.prompts[0].featured


# -- the MCP prompts ---------------------------------------------------------------------------------------


async def test_prompts_list_on_the_sandbox_returns_the_search_prompt_and_the_library_prompts(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        listed = (await client.list_prompts()).prompts
    names = [p.name for p in listed]
    assert names[0] == SEARCH_PROMPT
    assert [p.title for p in listed[1:]] == [p["title"] for p in FEATURED]
    assert "library-ceramic-mug-on-linen" in names and "library-swap-the-background-to-a-studio" in names
    search = listed[0]
    assert search.arguments is not None and [a.name for a in search.arguments] == ["query", "category"]
    assert not any(a.required for a in search.arguments)


async def test_the_search_prompt_returns_matching_prompts_ready_for_generate_image(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        found = await client.get_prompt(SEARCH_PROMPT, {"query": "poster"})
        nothing = await client.get_prompt(SEARCH_PROMPT, {"query": "zebra crossing on mars"})
    text = _message_text(found)
    assert found.messages[0].role == "user"
    assert 'matching "poster"' in text and "pass it as `prompt`" in text
    assert "1. Poster with a clear headline (generate_image; typography;" in text
    assert 'the headline "NIGHT TRAIN" in bold condensed sans-serif' in text
    assert "no GPT Image 2 prompts matching" in _message_text(nothing)


async def test_a_library_prompt_hands_back_its_text_for_the_right_tool(tmp_path: Path, sandbox: RunningSandbox) -> None:
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        await client.list_prompts()
        mug = await client.get_prompt("library-ceramic-mug-on-linen", {})
        studio = await client.get_prompt("library-swap-the-background-to-a-studio", {"changes": "a dark backdrop"})
        with pytest.raises(MCPError, match="Unknown prompt"):
            await client.get_prompt("library-no-such-prompt", {})
    assert _message_text(mug).startswith("Call generate_image with this prompt from RunAPI's library.\n\n")
    assert "matte sage-green ceramic mug" in _message_text(mug)
    studio_text = _message_text(studio)
    assert (
        studio_text.startswith("Call edit_image with this instruction")
        and "Adapt it first: a dark backdrop." in studio_text
    )


async def test_offline_the_library_says_so_in_one_line_and_lists_only_the_search_prompt(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, _closed_port_url())
    async with Client(build_server(settings)) as client:
        listed = (await client.list_prompts()).prompts
        result = await client.get_prompt(SEARCH_PROMPT, {"query": "poster"})
    assert [p.name for p in listed] == [SEARCH_PROMPT]
    text = _message_text(result)
    assert text.startswith("RunAPI's prompt library is offline (") and "\n" not in text
    assert text.endswith("describe the image in your own words and call generate_image.")


async def test_tools_list_is_byte_identical_with_the_library_online_offline_and_holds_no_prompt_tool(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    dumps: list[str] = []
    for base_url in (sandbox.url, _closed_port_url()):
        async with Client(build_server(make_settings(tmp_path, base_url))) as client:
            await client.list_prompts()
            tools = await client.list_tools()
        dumps.append(tools.model_dump_json(by_alias=True, exclude_none=True))
        assert {t.name for t in tools.tools} == TOOLS
    assert dumps[0] == dumps[1]
    assert "prompt librar" not in dumps[0].lower() and SEARCH_PROMPT not in dumps[0]
