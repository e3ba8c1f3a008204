"""Messages that say what happened: who refused, whether anything was retried, which URL, in the server's words."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client

from runapi_mcp.runapi import errors as api
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from runapi_mcp.server.errors import explain
from tests.server.helpers import make_settings, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

BASE = "http://user:hunter2@127.0.0.1:8443/runapi"


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.02, balance_cents=10_000, status_retry_after=0.01)) as sb:
        yield sb


async def queue(
    sandbox: RunningSandbox, *specs: str, method: str = "POST", path: str = "/api/v1/gpt_image_2/*"
) -> None:
    async with httpx2.AsyncClient() as http:
        body = {"faults": [{"fault": spec, "method": method, "path": path, "count": 1} for spec in specs]}
        (await http.post(f"{sandbox.url}/_sandbox/faults", json=body)).raise_for_status()


def test_our_own_pre_send_check_is_not_called_a_refusal_by_runapi() -> None:
    text = explain(api.ValidationError("prompt is too long"), base_url=BASE)
    assert "RunAPI refused" not in text and "not sent" in text
    assert "RunAPI refused the request (422)" in explain(api.ValidationError("bad", status=422), base_url=BASE)


@pytest.mark.parametrize("exc", [api.RateLimitError("slow down", status=429), api.ServerError("down", status=503)])
def test_a_failure_does_not_claim_retries_that_may_not_have_happened(exc: api.RunAPIError) -> None:
    assert "retries ran out" not in explain(exc, base_url=BASE)


def test_an_unreachable_base_url_is_shown_with_its_port_and_without_its_password() -> None:
    text = explain(api.ConnectionFailedError("connection refused"), base_url=BASE)
    assert "127.0.0.1:8443" in text and "hunter2" not in text and "user" not in text


async def test_status_reads_answered_429_are_not_called_silence(tmp_path: Path, sandbox: RunningSandbox) -> None:
    await queue(sandbox, *["429;retry_after=0.05"] * 200, method="GET", path="/api/v1/gpt_image_2/*/*")
    async with Client(build_server(make_settings(tmp_path, sandbox.url, RUNAPI_MCP_WAIT_SECONDS="1"))) as client:
        text = text_of(await client.call_tool("generate_image", {"prompt": "a fox"}))
    assert "did not answer" not in text and "429" in text and "get_task" in text, text


async def test_a_402_mid_batch_is_explained_with_what_to_do(tmp_path: Path, sandbox: RunningSandbox) -> None:
    await queue(sandbox, "none", "402", "none", "none")
    async with Client(build_server(make_settings(tmp_path, sandbox.url, RUNAPI_MCP_MAX_RETRIES="0"))) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "count": 4})
    text = text_of(result) + str(result.structured_content)
    assert "Not enough RunAPI credits" in text and "get_balance" in text, text


async def test_a_failed_tasks_message_ends_in_one_stop(tmp_path: Path, sandbox: RunningSandbox) -> None:
    await queue(sandbox, "fail-task;message=the%20model%20refused%20(policy).")
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        text = text_of(await client.call_tool("generate_image", {"prompt": "a fox"}))
    assert "policy" in text and not re.search(r"\.\s*\.", text), text
