"""The viewer exists only for clients that declare MCP Apps; everyone else sees the server as it was."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client
from mcp.server.apps import APP_MIME_TYPE
from mcp.shared.exceptions import MCPError

import runapi_mcp.server.app as app_module
from runapi_mcp.server import build_server
from runapi_mcp.server.viewer import APP_ONLY_TOOLS, LINKED_TOOLS, VIEWER_URI
from runapi_mcp.settings import Settings
from tests.viewer.conftest import Connect, apps_extension

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def server_without_viewer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, *, apps: bool = False
) -> AsyncIterator[Client]:
    """The server exactly as it was before the viewer: no extension, no gate."""
    with monkeypatch.context() as patch:
        patch.setattr(app_module, "viewer_extensions", lambda: [])
        patch.setattr(app_module, "install_viewer_gate", lambda server: None)
        server = build_server(settings)
    async with Client(server, extensions=[apps_extension()] if apps else None) as client:
        yield client


def wire(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False)


async def test_without_apps_tools_list_and_resources_are_byte_identical_to_the_server_without_the_viewer(
    settings: Settings, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with server_without_viewer(settings, monkeypatch) as before, connect(apps=False) as now:
        assert wire(await now.list_tools()) == wire(await before.list_tools())
        assert wire(await now.list_resources()) == wire(await before.list_resources())
        assert wire(await now.list_resource_templates()) == wire(await before.list_resource_templates())
        names = [t.name for t in (await now.list_tools()).tools]
    assert len(names) == 6 and not set(names) & set(APP_ONLY_TOOLS)


async def test_without_apps_results_are_byte_identical_to_the_server_without_the_viewer(
    settings: Settings, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with connect(apps=False) as now:
        made = await now.call_tool("generate_image", {"prompt": "a paper boat"})
        task_id = made.structured_content["tasks"][0]["task_id"]  # type: ignore[index]
        after = await now.call_tool("get_task", {"task_id": task_id})
        listed = await now.call_tool("list_tasks", {})
    async with server_without_viewer(settings, monkeypatch) as before:
        baseline = await before.call_tool("get_task", {"task_id": task_id})
        baseline_list = await before.call_tool("list_tasks", {})
    assert wire(after) == wire(baseline)
    assert wire(listed) == wire(baseline_list)
    # The regular result keeps its whole text and its preview for every client.
    assert [c.type for c in made.content][:2] == ["text", "image"] and "saved to" in made.content[0].text  # type: ignore[union-attr]


async def test_without_apps_an_app_only_tool_is_refused_exactly_like_an_unknown_tool(connect: Connect) -> None:
    async with connect(apps=False) as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no_such_tool", {})
        for name in APP_ONLY_TOOLS:
            with pytest.raises(MCPError) as hidden:
                await client.call_tool(name, {"task_id": "abc"})
            assert (hidden.value.error.code, hidden.value.error.message.replace(name, "X")) == (
                unknown.value.error.code,
                unknown.value.error.message.replace("no_such_tool", "X"),
            )


async def test_with_apps_the_image_tools_link_the_viewer_and_app_only_tools_are_marked_app(connect: Connect) -> None:
    async with connect(apps=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in LINKED_TOOLS:
            assert tools[name].meta == {"ui": {"resourceUri": VIEWER_URI}}
        for name in APP_ONLY_TOOLS:
            assert tools[name].meta == {"ui": {"resourceUri": VIEWER_URI, "visibility": ["app"]}}
        for name in ("list_tasks", "get_pricing", "get_balance"):
            assert tools[name].meta is None
        assert VIEWER_URI in [str(r.uri) for r in (await client.list_resources()).resources]
        page = (await client.read_resource(VIEWER_URI)).contents[0]
    assert page.mime_type == APP_MIME_TYPE
    html = page.text  # type: ignore[union-attr]
    # Self-contained: nothing is fetched from anywhere (the host's default CSP would block it anyway).
    for outside in ('src="http', "src='http", 'href="http', "@import", "url(http", "fetch(", "XMLHttpRequest"):
        assert outside not in html
    assert "ui/initialize" in html and "ui/download-file" in html


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_over_streamable_http_both_protocol_generations_see_the_viewer_only_with_apps(
    tmp_path: Any, sandbox: Any, mode: str
) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from tests.support.environments import http_settings
    from tests.support.mcp_http import serving

    async def tool_names(base_url: str, apps: bool) -> tuple[str, list[str], dict[str, Any]]:
        async with httpx2.AsyncClient(timeout=30) as http:
            transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
            extensions = [apps_extension()] if apps else None
            async with Client(transport, extensions=extensions, mode=mode) as client:  # type: ignore[arg-type]
                tools = (await client.list_tools()).tools
                return (
                    client.session.protocol_version,  # type: ignore[attr-defined]
                    [t.name for t in tools],
                    {t.name: t.meta for t in tools},
                )

    async with serving(http_settings(tmp_path, sandbox.url)) as url:
        version, plain, plain_meta = await tool_names(url, apps=False)
        _, with_apps, apps_meta = await tool_names(url, apps=True)
    assert (version == "2026-07-28") == (mode == "auto")
    assert not set(plain) & set(APP_ONLY_TOOLS) and len(plain) == 6
    assert all(meta is None for meta in plain_meta.values())
    assert set(APP_ONLY_TOOLS) <= set(with_apps)
    assert apps_meta["generate_image"] == {"ui": {"resourceUri": VIEWER_URI}}


async def test_on_the_wire_a_client_without_apps_gets_the_same_bytes_as_from_the_server_without_the_viewer(
    tmp_path: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx2

    from tests.support.environments import http_settings
    from tests.support.mcp_http import INITIALIZE, MCP_HEADERS, serving

    settings = http_settings(tmp_path, sandbox.url)
    async with serving(settings) as url, Client(f"{url}/mcp") as client:
        made = await client.call_tool("generate_image", {"prompt": "a wire-level teacup"})
    task_id = made.structured_content["tasks"][0]["task_id"]  # type: ignore[index]
    requests = [
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "resources/list", "params": {}},
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "get_task", "arguments": {"task_id": task_id}},
        },
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "list_tasks", "arguments": {}}},
    ]

    async def answers() -> list[str]:
        async with serving(settings) as url, httpx2.AsyncClient(timeout=30) as http:
            opened = await http.post(f"{url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            session = {
                **MCP_HEADERS,
                "mcp-session-id": opened.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-06-18",
            }
            await http.post(
                f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
            )
            return [(await http.post(f"{url}/mcp", json=body, headers=session)).text for body in requests]

    now = await answers()
    with monkeypatch.context() as patch:
        patch.setattr(app_module, "viewer_extensions", lambda: [])
        patch.setattr(app_module, "install_viewer_gate", lambda server: None)
        before = await answers()
    for body, ours, theirs in zip(requests, now, before, strict=True):
        assert ours == theirs, body["method"]
    assert "generate_image" in now[0] and "viewer_" not in now[0] and "ui://" not in now[1]
    assert task_id in now[2] and "image/jpeg" not in now[2] and task_id in now[3]
