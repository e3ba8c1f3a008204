"""A full session (every tool, resources, and the error paths) never shows the API key: not in a log line,
a tool result, an error, the journal, or any file written."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from PIL import Image

from runapi_mcp.core.jobs import owner_id
from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.server import build_server
from tests.support.environments import http_settings, server_settings
from tests.support.mcp_http import mcp_client, serving
from tests.support.sandboxes import sandbox_in_loop

pytestmark = pytest.mark.anyio

SECRET = "sk-live-SECRET-9f8e7d6c5b4a3210"
WRONG = "sk-live-WRONG-0123456789abcdef"
CREATE = "/api/v1/gpt_image_2/*"


class Everything(logging.Handler):
    """Every record any logger emits, fully formatted (message, arguments and exception text)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with sandbox_in_loop(latency=0.05, accepted_keys=frozenset({SECRET})) as sb:
        yield sb


async def script(sandbox: RunningSandbox, *faults: str) -> None:
    async with httpx2.AsyncClient() as http:
        items = [{"fault": f, "method": "POST", "path": CREATE, "count": 1} for f in faults]
        (await http.post(f"{sandbox.url}/_sandbox/faults", json={"faults": items})).raise_for_status()


def dump(value: Any) -> str:
    if hasattr(value, "model_dump"):
        return json.dumps(value.model_dump(mode="json"), default=str)
    return str(value)


async def full_session(client: Client, sandbox: RunningSandbox, project: Path) -> list[str]:
    """Every tool and resource, succeeding and failing; returns everything the client was shown."""
    shown: list[Any] = []

    async def call(tool: str, args: dict[str, Any]) -> Any:
        result = await client.call_tool(tool, args)
        shown.append(result)
        return result

    Image.new("RGB", (32, 32), "orange").save(project / "source.png")
    made = await call("generate_image", {"prompt": "a lamp", "output_resolution": "2k"})
    task_id = made.structured_content["tasks"][0]["task_id"]
    await call("edit_image", {"prompt": "brighter", "images": ["source.png", f"task:{task_id}"]})
    await call("edit_image", {"prompt": "x", "images": ["../outside.png", "data:image/png;base64,!!"]})
    await call("generate_image", {"prompt": "x", "aspect_ratio": "7:5"})
    await call("generate_image", {"prompt": "queued", "wait": False})
    await script(sandbox, "fail-task")
    await call("generate_image", {"prompt": "will fail"})
    await script(sandbox, "503", "503", "503", "503")
    await call("generate_image", {"prompt": "no answer", "idempotency_key": "secret-test-1"})
    await call("generate_image", {"prompt": "no answer", "idempotency_key": "secret-test-1"})
    await call("get_task", {"task_id": task_id})
    await call("get_task", {"task_id": task_id, "wait": True})
    await call("get_task", {"task_id": "0b7c4c8e-9a51-4f0e-8c3e-5d0f1d2a3b4c"})
    await call("list_tasks", {"limit": 50})
    await call("list_tasks", {"status": "failed"})
    await call("get_pricing", {"action": "edit_image", "output_resolution": "4k", "count": 3})
    await call("get_balance", {})
    shown.append(await client.read_resource(f"runapi://tasks/{task_id}"))
    shown.append(await client.read_resource(f"runapi://tasks/{task_id}/images/0"))
    for uri in ("runapi://tasks/nope/images/0", "runapi://tasks/nope"):
        try:
            shown.append(await client.read_resource(uri))
        except MCPError as exc:
            shown.append(exc)
    assert any(getattr(r, "is_error", False) for r in shown) and any(not getattr(r, "is_error", True) for r in shown)
    return [dump(item) for item in shown]


def files_containing(root: Path, needle: str) -> list[str]:
    hits: list[str] = []
    for path in root.rglob("*"):
        if needle in str(path):
            hits.append(f"name: {path}")
        elif path.is_file() and not path.is_symlink() and needle.encode() in path.read_bytes():
            hits.append(str(path))
    return hits


def assert_secret_nowhere(
    secret: str, shown: list[str], logs: Everything, tmp_path: Path, captured: pytest.CaptureFixture[str]
) -> None:
    output = captured.readouterr()
    assert [s for s in shown if secret in s] == []
    assert [line for line in logs.lines if secret in line] == []
    assert secret not in output.out and secret not in output.err
    assert files_containing(tmp_path, secret) == []
    journal = tmp_path / "state" / "journal.sqlite3"
    assert journal.is_file() and secret.encode() not in journal.read_bytes()
    assert len(logs.lines) > 20  # the logs were really captured


async def test_stdio_style_session_never_shows_the_server_key(
    tmp_path: Path, sandbox: RunningSandbox, all_logs: Everything, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = server_settings(tmp_path, sandbox.url, RUNAPI_API_KEY=SECRET, RUNAPI_MCP_MAX_RETRIES="1")
    async with Client(build_server(settings)) as client:
        shown = await full_session(client, sandbox, settings.working_dir)
    assert_secret_nowhere(SECRET, shown, all_logs, tmp_path, capfd)


async def test_wrong_key_errors_do_not_echo_the_key(
    tmp_path: Path, sandbox: RunningSandbox, all_logs: Everything, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = server_settings(tmp_path, sandbox.url, RUNAPI_API_KEY=WRONG)
    async with Client(build_server(settings)) as client:
        shown = [
            dump(await client.call_tool(tool, args))
            for tool, args in (
                ("generate_image", {"prompt": "x"}),
                ("get_balance", {}),
                ("get_task", {"task_id": "abc"}),
            )
        ]
    assert all("401" in s for s in shown)
    assert_secret_nowhere(WRONG, shown, all_logs, tmp_path, capfd)


async def test_multi_tenant_http_session_never_shows_the_callers_key(
    tmp_path: Path, sandbox: RunningSandbox, all_logs: Everything, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = http_settings(
        tmp_path, sandbox.url, RUNAPI_API_KEY="", RUNAPI_MCP_HTTP_AUTH="per-request", RUNAPI_MCP_MAX_RETRIES="1"
    )
    tenant = settings.state_dir / "tenants" / owner_id(SECRET)  # the tenant's own folder: relative paths start there
    tenant.mkdir(parents=True)
    async with serving(settings) as url:
        async with mcp_client(url, {"Authorization": f"Bearer {SECRET}"}) as client:
            shown = await full_session(client, sandbox, tenant)
        async with mcp_client(url, {"Authorization": f"Bearer {WRONG}"}) as client:
            refused = await client.call_tool("generate_image", {"prompt": "x"})
    assert refused.is_error and "401" in dump(refused)
    shown.append(dump(refused))
    assert_secret_nowhere(SECRET, shown, all_logs, tmp_path, capfd)
    assert [line for line in all_logs.lines if WRONG in line] == []
