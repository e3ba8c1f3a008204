"""The HTTP transport's guards: bind refusal, the shared token, Host/Origin checks and the request size limit."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.server.http import HttpConfigError, check_bind, request_limit
from runapi_mcp.settings import Settings
from tests.support.environments import child_env, http_settings, refused_url, server_settings
from tests.support.mcp_http import (
    IN_PROCESS_URL,
    INITIALIZE,
    MCP_HEADERS,
    in_process_http,
    mcp_client,
    serving,
    text_of,
)
from tests.support.processes import ANNOUNCED_URL, http_server_process, server_command
from tests.transport.conftest import SERVER_KEY

SHARED_TOKEN = "tok-3e8a1f60b2c94d57"


def settings_for(tmp_path: Path, host: str, **env: str) -> Settings:
    """Settings bound to `host`, unvalidated: check_bind is the HTTP server's own guard, so it is tested on
    settings the settings model may already refuse."""
    return server_settings(tmp_path, refused_url(), **env).model_copy(update={"transport": "http", "http_host": host})


PUBLIC_BINDS = ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "example.com", "fe80::1"]
AUTH_MODES = {
    "per-request": {"RUNAPI_MCP_HTTP_AUTH": "per-request"},
    "token": {"RUNAPI_MCP_HTTP_AUTH": "token", "RUNAPI_MCP_HTTP_TOKEN": SHARED_TOKEN},
}


@pytest.mark.parametrize("host", PUBLIC_BINDS)
def test_non_loopback_bind_without_auth_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(HttpConfigError, match="without auth"):
        check_bind(settings_for(tmp_path, host))


@pytest.mark.parametrize("mode", AUTH_MODES)
@pytest.mark.parametrize("host", PUBLIC_BINDS)
def test_non_loopback_bind_with_auth_is_allowed(tmp_path: Path, host: str, mode: str) -> None:
    check_bind(settings_for(tmp_path, host, **AUTH_MODES[mode]))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_bind_needs_no_auth(tmp_path: Path, host: str) -> None:
    check_bind(settings_for(tmp_path, host))


def test_token_mode_without_a_token_is_refused_even_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(HttpConfigError, match="RUNAPI_MCP_HTTP_TOKEN"):
        check_bind(settings_for(tmp_path, "127.0.0.1", RUNAPI_MCP_HTTP_AUTH="token"))


def test_request_limit_never_drops_below_4_mib(tmp_path: Path) -> None:
    small = settings_for(tmp_path, "127.0.0.1", RUNAPI_MCP_MAX_INPUT_MB="1")
    assert request_limit(small) == 4 * 1024 * 1024


def test_request_limit_fits_one_maximal_image_as_a_data_uri(tmp_path: Path) -> None:
    default = settings_for(tmp_path, "127.0.0.1")
    assert default.max_input_bytes * 4 / 3 < request_limit(default) < default.max_input_bytes * 4 / 3 + 2**21


def test_real_process_refuses_a_public_bind_without_auth_before_binding(tmp_path: Path) -> None:
    done = subprocess.run(
        server_command("--transport", "http", "--host", "0.0.0.0", "--port", "0"),
        env=child_env(tmp_path, RUNAPI_MCP_STATE_DIR=str(tmp_path / "state"), RUNAPI_API_KEY=SERVER_KEY),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Refusing to serve on 0.0.0.0 without auth" in done.stderr and "RUNAPI_MCP_HTTP_AUTH" in done.stderr
    assert SERVER_KEY not in done.stderr + done.stdout
    assert ANNOUNCED_URL.search(done.stderr) is None  # it never got as far as binding and serving


def test_real_process_on_port_zero_announces_its_url_and_serves(tmp_path: Path) -> None:
    env = child_env(tmp_path, RUNAPI_MCP_STATE_DIR=str(tmp_path / "state"))
    with http_server_process(tmp_path, env) as (url, _):
        assert httpx2.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}


def token_settings(tmp_path: Path, sandbox: RunningSandbox) -> Settings:
    return http_settings(
        tmp_path,
        sandbox.url,
        RUNAPI_API_KEY=SERVER_KEY,
        RUNAPI_MCP_HTTP_AUTH="token",
        RUNAPI_MCP_HTTP_TOKEN=SHARED_TOKEN,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Bearer {SERVER_KEY}", f"Basic {SHARED_TOKEN}"],
    ids=["missing", "wrong-token", "the-server-key", "token-not-as-bearer"],
)
async def test_request_without_the_shared_token_is_refused_and_told_nothing(
    tmp_path: Path, sandbox: RunningSandbox, authorization: str | None
) -> None:
    extra = {} if authorization is None else {"Authorization": authorization}
    async with in_process_http(token_settings(tmp_path, sandbox)) as http:
        response = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **extra})
    assert response.status_code == 401 and "access token" in response.json()["message"]
    assert SHARED_TOKEN not in response.text and SERVER_KEY not in response.text


@pytest.mark.anyio
async def test_shared_token_unlocks_the_server_side_key(tmp_path: Path, sandbox: RunningSandbox) -> None:
    bearer = {"Authorization": f"Bearer {SHARED_TOKEN}"}
    async with serving(token_settings(tmp_path, sandbox)) as url, mcp_client(url, bearer) as client:
        made = await client.call_tool("generate_image", {"prompt": "guarded"})
    # The sandbox accepts the server-side key only among these: the token unlocked that key.
    assert not made.is_error, text_of(made)
    assert SHARED_TOKEN not in text_of(made) and SERVER_KEY not in text_of(made)
    assert sandbox.ledger()["totals"]["tasks"] == 1


ALLOWED_ORIGIN = "https://app.example.org"
PORT = IN_PROCESS_URL.rsplit(":", 1)[1]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": f"attacker.example:{PORT}"}, 421),
        ({"Host": "attacker.example"}, 421),
        ({"Host": f"localhost.attacker.example:{PORT}"}, 421),
        ({"Origin": "http://attacker.example"}, 403),
        ({"Origin": f"https://evil.example:{PORT}"}, 403),
        ({"Host": f"localhost:{PORT}", "Origin": f"http://localhost:{PORT}"}, 200),
        ({"Origin": ALLOWED_ORIGIN}, 200),
    ],
    ids=[
        "rebound-host",
        "rebound-host-without-port",
        "lookalike-host",
        "foreign-origin",
        "loopback-port-other-origin",
        "loopback-names",
        "configured-origin",
    ],
)
async def test_host_and_origin_are_checked_against_dns_rebinding(
    tmp_path: Path, sandbox: RunningSandbox, headers: dict[str, str], status: int
) -> None:
    """Foreign Host headers get 421 and foreign origins 403; loopback names and configured origins pass."""
    settings = http_settings(tmp_path, sandbox.url, RUNAPI_MCP_ALLOWED_ORIGINS=ALLOWED_ORIGIN)
    async with in_process_http(settings) as http:
        response = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers})
    assert response.status_code == status, response.text


def oversized_settings(tmp_path: Path, sandbox: RunningSandbox) -> Settings:
    return http_settings(tmp_path, sandbox.url, RUNAPI_MCP_MAX_INPUT_MB="1")


@pytest.mark.anyio
async def test_request_declaring_a_body_over_the_limit_is_refused_with_413(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    settings = oversized_settings(tmp_path, sandbox)
    huge = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * (request_limit(settings) + 1)}}
    async with in_process_http(settings) as http:
        declared = await http.post("/mcp", json=huge, headers=MCP_HEADERS)
    assert declared.status_code == 413


@pytest.mark.anyio
async def test_streamed_body_over_the_limit_is_refused_with_413(tmp_path: Path, sandbox: RunningSandbox) -> None:
    settings = oversized_settings(tmp_path, sandbox)
    limit = request_limit(settings)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit must hold while the body streams in
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    async with in_process_http(settings) as http:
        streamed = await http.post("/mcp", content=chunks(), headers=MCP_HEADERS)
    assert streamed.status_code == 413


@pytest.mark.anyio
async def test_server_keeps_serving_after_refusing_an_oversized_request(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    settings = oversized_settings(tmp_path, sandbox)
    async with serving(settings) as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            refused = await http.post(f"{url}/mcp", content=b"x" * (request_limit(settings) + 1), headers=MCP_HEADERS)
        async with mcp_client(url) as client:
            listed = await client.list_tools()
    assert refused.status_code == 413
    assert len(listed.tools) == 6
