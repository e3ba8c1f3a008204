"""Per-request auth: every request spends its own RunAPI key, and no tenant reaches another's tasks or files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from runapi_mcp.sandbox import RunningSandbox
from tests.support.environments import http_settings
from tests.support.mcp_http import INITIALIZE, MCP_HEADERS, in_process_http, mcp_client, serving, text_of
from tests.transport.conftest import TENANT_A, TENANT_B

pytestmark = pytest.mark.anyio


def per_request(tmp_path: Path, sandbox: RunningSandbox, **env: str) -> Any:
    # No server-side key at all: whatever reaches RunAPI can only be the caller's own.
    return http_settings(tmp_path, sandbox.url, RUNAPI_API_KEY="", RUNAPI_MCP_HTTP_AUTH="per-request", **env)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("authorization", [None, "Basic x", "Bearer"], ids=["missing", "basic", "empty-bearer"])
async def test_request_without_a_bearer_key_is_refused_before_mcp_sees_it(
    tmp_path: Path, sandbox: RunningSandbox, authorization: str | None
) -> None:
    extra = {} if authorization is None else {"Authorization": authorization}
    async with in_process_http(per_request(tmp_path, sandbox)) as http:
        response = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **extra})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "RunAPI key" in response.json()["message"]
    assert "mcp-session-id" not in response.headers


async def test_health_check_needs_no_key(tmp_path: Path, sandbox: RunningSandbox) -> None:
    async with in_process_http(per_request(tmp_path, sandbox)) as http:
        health = await http.get("/healthz")
    assert health.status_code == 200


async def test_each_request_spends_its_own_key(tmp_path: Path, sandbox: RunningSandbox) -> None:
    """Two tenants' calls succeed on their own keys; a stranger's key reaches RunAPI and is refused there."""
    async with serving(per_request(tmp_path, sandbox)) as url:
        async with mcp_client(url, bearer(TENANT_A)) as a, mcp_client(url, bearer(TENANT_B)) as b:
            made_a = await a.call_tool("generate_image", {"prompt": "tenant a"})
            made_b = await b.call_tool("generate_image", {"prompt": "tenant b"})
            balance = await b.call_tool("get_balance", {})
        async with mcp_client(url, bearer("sk-nobody-knows-this")) as stranger:
            refused = await stranger.call_tool("generate_image", {"prompt": "stranger"})
    assert not made_a.is_error and not made_b.is_error, (text_of(made_a), text_of(made_b))
    assert not balance.is_error
    # The sandbox accepts only the tenants' keys: a stranger's own key is what RunAPI saw, and refused.
    assert refused.is_error and "401" in text_of(refused) and "sk-nobody" not in text_of(refused)
    assert sandbox.ledger()["totals"]["tasks"] == 2


async def test_one_tenant_cannot_read_another_tenants_tasks_images_or_files(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    """Tenant B reaches tenant A's task by no route: listing, get_task, task:/path/file: sources, resources."""
    async with serving(per_request(tmp_path, sandbox)) as url:
        async with mcp_client(url, bearer(TENANT_A)) as a:
            made = await a.call_tool("generate_image", {"prompt": "a private drawing"})
            assert not made.is_error, text_of(made)
            task = made.structured_content["tasks"][0]
            task_id, path = task["task_id"], task["images"][0]["path"]
            own = await a.read_resource(f"runapi://tasks/{task_id}/images/0")
        async with mcp_client(url, bearer(TENANT_B)) as b:
            listing = text_of(await b.call_tool("list_tasks", {}))
            fetched = await b.call_tool("get_task", {"task_id": task_id})
            by_ref = await b.call_tool("edit_image", {"prompt": "steal", "images": [f"task:{task_id}"]})
            by_path = await b.call_tool("edit_image", {"prompt": "steal", "images": [path]})
            by_uri = await b.call_tool("edit_image", {"prompt": "steal", "images": [Path(path).as_uri()]})
            with pytest.raises(MCPError):
                await b.read_resource(f"runapi://tasks/{task_id}/images/0")
            with pytest.raises(MCPError):
                await b.read_resource(f"runapi://tasks/{task_id}")
    assert own.contents
    assert task_id not in listing and "private drawing" not in listing
    for result in (fetched, by_ref, by_path, by_uri):
        assert result.is_error, text_of(result)
        assert "private drawing" not in text_of(result)
    # Only tenant A's task was ever made: none of B's attempts reached RunAPI.
    assert sandbox.ledger()["totals"]["tasks"] == 1


async def test_a_session_answers_only_to_the_key_that_opened_it(tmp_path: Path, sandbox: RunningSandbox) -> None:
    """Another key presenting a session's id is told it does not exist, on POST and on the event stream."""
    async with in_process_http(per_request(tmp_path, sandbox)) as http:
        opened = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **bearer(TENANT_A)})
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        with_session = {**MCP_HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18"}
        hijack = await http.post("/mcp", json=listing, headers={**with_session, **bearer(TENANT_B)})
        stream = await http.get("/mcp", headers={**with_session, **bearer(TENANT_B)})
        owner = await http.post("/mcp", json=listing, headers={**with_session, **bearer(TENANT_A)})
    assert opened.status_code == 200
    assert hijack.status_code == 404 and stream.status_code == 404
    assert owner.status_code == 200 and "generate_image" in owner.text


async def test_a_task_made_through_one_replica_is_continued_through_another_with_the_same_key(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    # Stateless replicas keep separate journals: the second replica asks RunAPI, with the caller's own key.
    first, second = tmp_path / "replica-1", tmp_path / "replica-2"
    first.mkdir()
    second.mkdir()
    async with serving(per_request(first, sandbox)) as url, mcp_client(url, bearer(TENANT_A)) as a:
        made = await a.call_tool("generate_image", {"prompt": "started on one replica", "wait": False})
    task_id = made.structured_content["tasks"][0]["task_id"]
    async with serving(per_request(second, sandbox)) as url, mcp_client(url, bearer(TENANT_A)) as a:
        done = await a.call_tool("get_task", {"task_id": task_id, "wait": True})
        listing = text_of(await a.call_tool("list_tasks", {}))
    assert not done.is_error, text_of(done)
    assert done.structured_content["tasks"][0]["status"] == "completed"
    assert task_id in listing
    assert sandbox.ledger()["totals"]["tasks"] == 1


async def test_a_task_adopted_through_get_task_saves_into_the_callers_tenant_folder(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    """Replica one creates the task; replica two, which never saw it, adopts it and must save in the tenant's folder."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    async with serving(per_request(one, sandbox)) as url, mcp_client(url, bearer(TENANT_A)) as a:
        created = await a.call_tool("generate_image", {"prompt": "made on one", "wait": False})
    task_id = created.structured_content["tasks"][0]["task_id"]
    async with serving(per_request(two, sandbox)) as url, mcp_client(url, bearer(TENANT_A)) as a:
        followed = await a.call_tool("get_task", {"task_id": task_id, "wait": True})
    assert not followed.is_error, text_of(followed)
    saved = Path(followed.structured_content["tasks"][0]["images"][0]["path"])
    assert saved.is_file()
    assert saved.is_relative_to(two / "state" / "tenants"), saved
