"""One display form for every URL in a message: scheme, host and port, path; never userinfo or a query."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from mcp import Client

from runapi_mcp.core.download import download_to
from runapi_mcp.core.errors import CoreError
from runapi_mcp.server import build_server
from runapi_mcp.urls import display_url, is_loopback_host
from tests.support.environments import refused_port, server_settings
from tests.support.mcp_http import text_of


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://me:hunter2@gw.example:8443/v1/?token=tok-1#frag", "https://gw.example:8443/v1"),
        ("https://runapi.ai", "https://runapi.ai"),
        ("https://runapi.ai:443/", "https://runapi.ai:443"),  # an explicit port is kept, even the default
        ("HTTP://Example.COM:8080/Path", "http://example.com:8080/Path"),
        ("http://[::1]:9000/x", "http://[::1]:9000/x"),
        ("notaurl?key=secret", "notaurl"),
        ("me:pw@host-without-scheme/p", "host-without-scheme/p"),
        ("http://me:pw@h.example:99999/p?q=1", "http://h.example:99999/p"),  # a bad port: still no secrets
    ],
)
def test_display_url_keeps_scheme_host_port_and_path_only(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_display_url_can_drop_the_path_and_shortens_long_urls() -> None:
    assert display_url("https://u:p@files.example:8443/a/b?sig=1", with_path=False) == "https://files.example:8443"
    long = display_url("https://files.example/" + "a" * 300)
    assert len(long) == 100 and long.endswith("...")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.2", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("example.com", False),
        ("::", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.anyio
async def test_could_not_reach_names_the_base_url_with_its_port_and_without_its_credentials(tmp_path: Path) -> None:
    port = refused_port()
    settings = server_settings(tmp_path, f"http://me:hunter2@127.0.0.1:{port}/gateway", RUNAPI_MCP_MAX_RETRIES="0")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("get_balance", {})
    text = text_of(result)
    assert result.is_error and "hunter2" not in text and "me:" not in text
    assert f"Could not reach RunAPI at http://127.0.0.1:{port}/gateway" in text


@pytest.mark.anyio
async def test_a_failed_download_names_the_url_with_its_port_and_without_its_signature(tmp_path: Path) -> None:
    port = refused_port()
    url = f"http://127.0.0.1:{port}/results/img.png?signature=sig-secret"
    async with httpx2.AsyncClient() as http:
        with pytest.raises(CoreError) as caught:
            await download_to(
                http, url, tmp_path / "img.png", max_bytes=1024, timeout=5, allow_hosts=(f"127.0.0.1:{port}",)
            )
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}/results/img.png" in message and "sig-secret" not in message
