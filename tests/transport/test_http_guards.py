"""The HTTP transport's guards: bind refusal, the shared token, Host/Origin checks and the request size limit."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from runapi_mcp.sandbox import RunningSandbox
from runapi_mcp.server.http import HttpConfigError, check_bind, request_limit
from runapi_mcp.settings import Settings
from tests.server.helpers import text_of
from tests.transport.conftest import SERVER_KEY
from tests.transport.helpers import INITIALIZE, MCP_HEADERS, http_settings, mcp_client, serving

SHARED_TOKEN = "tok-3e8a1f60b2c94d57"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(tmp_path: Path, host: str, **env: str) -> Settings:
    return http_settings(tmp_path, "http://127.0.0.1:9", **env).model_copy(update={"http_host": host})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "example.com", "fe80::1"])
def test_non_loopback_bind_without_auth_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(HttpConfigError, match="without auth"):
        check_bind(settings_for(tmp_path, host))
    check_bind(settings_for(tmp_path, host, RUNAPI_MCP_HTTP_AUTH="per-request"))
    check_bind(settings_for(tmp_path, host, RUNAPI_MCP_HTTP_AUTH="token", RUNAPI_MCP_HTTP_TOKEN=SHARED_TOKEN))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_bind_needs_no_auth(tmp_path: Path, host: str) -> None:
    check_bind(settings_for(tmp_path, host))


def test_token_mode_without_a_token_is_refused_even_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(HttpConfigError, match="RUNAPI_MCP_HTTP_TOKEN"):
        check_bind(settings_for(tmp_path, "127.0.0.1", RUNAPI_MCP_HTTP_AUTH="token"))


def test_request_limit_fits_one_maximal_image_as_a_data_uri(tmp_path: Path) -> None:
    small = settings_for(tmp_path, "127.0.0.1", RUNAPI_MCP_MAX_INPUT_MB="1")
    default = settings_for(tmp_path, "127.0.0.1")
    assert request_limit(small) == 4 * 1024 * 1024
    assert default.max_input_bytes * 4 / 3 < request_limit(default) < default.max_input_bytes * 4 / 3 + 2**21


def test_real_process_refuses_a_public_bind_without_auth_and_binds_nothing(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "RUNAPI_MCP_STATE_DIR": str(tmp_path / "state"),
        "RUNAPI_API_KEY": SERVER_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-m", "runapi_mcp", "--transport", "http", "--host", "0.0.0.0", "--port", str(port)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "Refusing to serve on 0.0.0.0 without auth" in done.stderr and "RUNAPI_MCP_HTTP_AUTH" in done.stderr
    assert SERVER_KEY not in done.stderr + done.stdout
    with socket.socket() as probe:  # nothing was left listening
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_real_process_on_port_zero_announces_its_url_and_serves(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "RUNAPI_MCP_STATE_DIR": str(tmp_path / "state"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "runapi_mcp", "--transport", "http", "--port", "0"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            found = re.search(r"at (http://127\.0\.0\.1:\d+)/mcp", line)
            url = found.group(1) if found else None
        assert url is not None, "the server never announced its URL"
        assert httpx2.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.anyio
async def test_shared_token_guards_the_server_side_key(tmp_path: Path, sandbox: RunningSandbox) -> None:
    settings = http_settings(
        tmp_path, sandbox.url,
        RUNAPI_API_KEY=SERVER_KEY, RUNAPI_MCP_HTTP_AUTH="token", RUNAPI_MCP_HTTP_TOKEN=SHARED_TOKEN,
    )
    async with serving(settings) as url:
        async with httpx2.AsyncClient() as http:
            responses = [
                await http.post(f"{url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **extra})
                for extra in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Bearer {SERVER_KEY}"},
                              {"Authorization": f"Basic {SHARED_TOKEN}"})
            ]
        async with mcp_client(url, {"Authorization": f"Bearer {SHARED_TOKEN}"}) as client:
            made = await client.call_tool("generate_image", {"prompt": "guarded"})
    for response in responses:
        assert response.status_code == 401 and "access token" in response.json()["message"]
        assert SHARED_TOKEN not in response.text and SERVER_KEY not in response.text
    # The sandbox accepts the server-side key only among these: the token unlocked that key.
    assert not made.is_error, text_of(made)
    assert SHARED_TOKEN not in text_of(made) and SERVER_KEY not in text_of(made)
    assert sandbox.ledger()["totals"]["tasks"] == 1


@pytest.mark.anyio
async def test_foreign_host_and_origin_are_refused_against_dns_rebinding(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    settings = http_settings(tmp_path, sandbox.url, RUNAPI_MCP_ALLOWED_ORIGINS="https://app.example.org")
    async with serving(settings) as url, httpx2.AsyncClient() as http:
        port = url.rsplit(":", 1)[1]

        async def post(**headers: str) -> httpx2.Response:
            return await http.post(f"{url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers})

        rebound = await post(Host=f"attacker.example:{port}")
        rebound_bare = await post(Host="attacker.example")
        lookalike = await post(Host=f"localhost.attacker.example:{port}")
        foreign_origin = await post(Origin="http://attacker.example")
        loopback_origin_other_scheme = await post(Origin=f"https://evil.example:{port}")
        local = await post(Host=f"localhost:{port}", Origin=f"http://localhost:{port}")
        configured = await post(Origin="https://app.example.org")
    assert rebound.status_code == rebound_bare.status_code == lookalike.status_code == 421
    assert foreign_origin.status_code == loopback_origin_other_scheme.status_code == 403
    assert local.status_code == 200 and configured.status_code == 200


@pytest.mark.anyio
async def test_oversized_request_is_refused_with_413_and_the_server_stays_up(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    settings = http_settings(tmp_path, sandbox.url, RUNAPI_MCP_MAX_INPUT_MB="1")
    limit = request_limit(settings)
    huge = {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": "x" * (limit + 1)}}  # type: ignore[dict-item]
    async with serving(settings) as url:
        async with httpx2.AsyncClient(timeout=30) as http:
            declared = await http.post(f"{url}/mcp", json=huge, headers=MCP_HEADERS)

            async def chunks():  # no Content-Length: the limit must hold while the body streams in
                for _ in range(limit // 65536 + 2):
                    yield b"x" * 65536

            streamed = await http.post(f"{url}/mcp", content=chunks(), headers=MCP_HEADERS)
        async with mcp_client(url) as client:
            listed = await client.list_tools()
    assert declared.status_code == 413 and streamed.status_code == 413
    assert len(listed.tools) == 6
