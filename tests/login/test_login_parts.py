"""The pieces of the browser login on their own: PKCE, the loopback listener, the sandbox's authorize page
and exchange, the config file writer and the key watcher."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import anyio
import httpx2
import pytest
from pydantic import SecretStr

from runapi_mcp.login.callback import CallbackListener
from runapi_mcp.login.config_file import remove_api_key, save_api_key
from runapi_mcp.login.errors import ConfigFileError, LoginError, LoginTimeout
from runapi_mcp.login.flow import BrowserLogin
from runapi_mcp.login.keysource import KeyWatcher
from runapi_mcp.login.pkce import DISPLAY_ALPHABET, LoginSecrets, s256_challenge
from runapi_mcp.runapi.client import RetryPolicy, RunAPIClient
from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from tests.login.browser import visit

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def test_s256_matches_the_rfc_7636_example() -> None:
    assert (
        s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_each_login_gets_fresh_state_verifier_and_an_unambiguous_display_code() -> None:
    logins = [LoginSecrets() for _ in range(50)]
    assert len({s.state for s in logins}) == 50 and len({s.code_verifier for s in logins}) == 50
    for s in logins:
        assert len(s.state) == 43 and len(s.code_verifier) == 43  # 32 bytes, base64url without padding
        head, dash, tail = s.display_code.partition("-")
        assert dash == "-" and len(head) == len(tail) == 4
        assert set(head + tail) <= set(DISPLAY_ALPHABET)
    assert not set("0O1I") & set(DISPLAY_ALPHABET)
    assert "code_verifier" not in repr(logins[0]) or logins[0].code_verifier not in repr(logins[0])


async def test_the_listener_refuses_foreign_states_and_other_paths_and_keeps_waiting() -> None:
    async with CallbackListener("our-state-abcdefghijklmnop") as listener, httpx2.AsyncClient() as http:
        base = f"http://127.0.0.1:{listener.port}"
        assert (await http.get(f"{base}/callback?code=x&state=someone-else")).status_code == 400
        assert (await http.get(f"{base}/callback?code=x")).status_code == 400
        assert (await http.get(f"{base}/favicon.ico")).status_code == 404
        assert (await http.post(f"{base}/callback?code=x&state=our-state-abcdefghijklmnop")).status_code == 405
        ok = await http.get(f"{base}/callback?code=the-code&state=our-state-abcdefghijklmnop")
        assert ok.status_code == 200 and "close this tab" in ok.text
        assert await listener.wait(1) == "the-code"
        late = await http.get(f"{base}/callback?code=other&state=our-state-abcdefghijklmnop")
        assert late.status_code == 409


async def test_an_idle_connection_does_not_block_the_real_callback() -> None:
    async with CallbackListener("state-0123456789abcdef") as listener, httpx2.AsyncClient() as http:
        idle = await anyio.connect_tcp("127.0.0.1", listener.port)  # like a browser's speculative pre-connect
        answer = await http.get(f"http://127.0.0.1:{listener.port}/callback?code=c&state=state-0123456789abcdef")
        assert answer.status_code == 200
        await idle.aclose()


async def test_the_listener_times_out_and_then_stops_listening() -> None:
    async with CallbackListener("state-0123456789abcdef") as listener:
        port = listener.port
        with pytest.raises(LoginTimeout, match=r"within 0\.2 s"):
            await listener.wait(0.2)
    with pytest.raises(OSError):
        await anyio.connect_tcp("127.0.0.1", port)


async def test_the_sandbox_exchange_checks_verifier_port_and_single_use(tmp_path: Path) -> None:
    async with running_sandbox(SandboxConfig()) as sandbox, httpx2.AsyncClient() as http:
        secrets = LoginSecrets()
        port = 45678
        query = {
            "state": secrets.state,
            "code_challenge": secrets.code_challenge,
            "code_challenge_method": "S256",
            "redirect_port": str(port),
            "display_code": secrets.display_code,
            "hostname": "test-box",
        }
        url = str(httpx2.URL(f"{sandbox.url}/cli/authorize", params=query))
        page = await http.get(url)
        assert page.status_code == 200 and secrets.display_code in page.text and "test-box" in page.text
        approve = await http.post(f"{sandbox.url}/cli/authorize", data={**query, "decision": "approve"})
        assert approve.status_code == 303
        location = httpx2.URL(approve.headers["location"])
        assert (location.host, location.port, location.path) == ("127.0.0.1", port, "/callback")
        assert location.params["state"] == secrets.state
        code = location.params["code"]

        exchange = f"{sandbox.url}/api/v1/cli/exchange"
        headers = {"x-cli-hostname": "test-box"}
        body = {"code": code, "code_verifier": secrets.code_verifier, "redirect_port": port}
        wrong = await http.post(exchange, json={**body, "code_verifier": LoginSecrets().code_verifier}, headers=headers)
        assert wrong.status_code == 400 and "code_verifier does not match" in wrong.text
        burnt = await http.post(exchange, json=body, headers=headers)  # a failed try used the code up
        assert burnt.status_code == 400 and "already used" in burnt.text

        # A fresh code: the wrong port is refused, then (new code) the right answer gets a working key.
        approve = await http.post(f"{sandbox.url}/cli/authorize", data={**query, "decision": "approve"})
        code = httpx2.URL(approve.headers["location"]).params["code"]
        moved = await http.post(exchange, json={**body, "code": code, "redirect_port": port + 1}, headers=headers)
        assert moved.status_code == 400 and "redirect_port" in moved.text
        approve = await http.post(f"{sandbox.url}/cli/authorize", data={**query, "decision": "approve"})
        code = httpx2.URL(approve.headers["location"]).params["code"]
        assert (await http.post(exchange, json={**body, "code": code})).status_code == 400  # no hostname header
        approve = await http.post(f"{sandbox.url}/cli/authorize", data={**query, "decision": "approve"})
        code = httpx2.URL(approve.headers["location"]).params["code"]
        good = await http.post(exchange, json={**body, "code": code}, headers=headers)
        assert good.status_code == 200
        answer = good.json()
        assert answer["name"] == "runapi-mcp on test-box" and answer["user"] == {"email": "sandbox@runapi-mcp.invalid"}
        me = await http.get(f"{sandbox.url}/api/v1/me/balance", headers={"Authorization": f"Bearer {answer['key']}"})
        assert me.status_code == 200


async def test_the_authorize_page_refuses_a_malformed_link() -> None:
    async with running_sandbox(SandboxConfig()) as sandbox, httpx2.AsyncClient() as http:
        good = LoginSecrets()
        base = {
            "state": good.state,
            "code_challenge": good.code_challenge,
            "code_challenge_method": "S256",
            "redirect_port": "5000",
            "display_code": good.display_code,
        }
        for broken in (
            {"code_challenge_method": "plain"},
            {"state": ""},
            {"redirect_port": "0"},
            {"display_code": "OOOO-1111"},
            {"code_challenge": "short"},
        ):
            page = await http.get(f"{sandbox.url}/cli/authorize", params={**base, **broken})
            assert page.status_code == 400 and "start the sign-in again" in page.text, broken


async def test_the_flow_maps_a_refused_exchange_to_one_line_and_saves_nothing(tmp_path: Path) -> None:
    config = tmp_path / "runapi" / "config.json"
    async with running_sandbox(SandboxConfig()) as sandbox, httpx2.AsyncClient() as http:
        client = RunAPIClient(http, base_url=sandbox.url, api_key=None, retry=RetryPolicy(max_retries=0))
        sandbox.state.faults.push(
            [{"fault": "400;message=Code expired.", "method": "POST", "path": "/api/v1/cli/exchange"}]
        )
        async with BrowserLogin(client, config, hostname="box") as login:
            visited = await anyio.to_thread.run_sync(visit, login.authorize_url)
            assert visited.callback_answers == [(200, "/callback")]
            with pytest.raises(LoginError, match=r"^RunAPI refused the sign-in \(400: Code expired\)\. Try again\.$"):
                await login.finish(5)
    assert not config.exists()


def test_saving_keeps_other_fields_drops_the_legacy_key_and_is_private(tmp_path: Path) -> None:
    config = tmp_path / "runapi" / "config.json"
    config.parent.mkdir(mode=0o755)
    config.write_text(json.dumps({"apiKey": "old", "base_url": "https://example.test", "extra": [1, 2]}))
    os.chmod(config, 0o644)

    save_api_key(config, SecretStr("sk-new-key"))

    assert json.loads(config.read_text()) == {
        "base_url": "https://example.test",
        "extra": [1, 2],
        "api_key": "sk-new-key",
    }
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # a fresh file replaced the 0644 one
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert [p.name for p in config.parent.iterdir()] == ["config.json"]
    assert remove_api_key(config) and json.loads(config.read_text()) == {
        "base_url": "https://example.test",
        "extra": [1, 2],
    }
    assert not remove_api_key(config)


def test_a_config_file_that_is_not_json_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    config = tmp_path / "runapi" / "config.json"
    config.parent.mkdir()
    config.write_text("{broken")
    with pytest.raises(ConfigFileError, match="is not valid JSON; fix or delete it"):
        save_api_key(config, SecretStr("sk-new-key"))
    assert config.read_text() == "{broken"


def test_the_key_watcher_reports_each_change_of_the_file_once(tmp_path: Path) -> None:
    config = tmp_path / "runapi" / "config.json"
    watcher = KeyWatcher(config)
    first = watcher.poll()  # the first poll reports what the file holds now: here, no file, no key
    assert first is not None and first.api_key is None
    assert watcher.poll() is None  # still no file: nothing new
    save_api_key(config, SecretStr("sk-first-key"))
    change = watcher.poll()
    assert change is not None and change.api_key is not None and change.api_key.get_secret_value() == "sk-first-key"
    assert change.source == f"config file {config} (api_key)"
    assert watcher.poll() is None  # unchanged: one stat, no read
    save_api_key(config, SecretStr("sk-second-key"))  # same size: the inode tells
    change = watcher.poll()
    assert change is not None and change.api_key is not None and change.api_key.get_secret_value() == "sk-second-key"
    remove_api_key(config)
    change = watcher.poll()
    assert change is not None and change.api_key is None


async def test_a_sandbox_with_a_fixed_key_list_hands_out_a_key_from_it(tmp_path: Path) -> None:
    config = SandboxConfig(accepted_keys=frozenset({"sk-only-this-one"}))
    async with running_sandbox(config) as sandbox, httpx2.AsyncClient() as http:
        client = RunAPIClient(http, base_url=sandbox.url, api_key=None, retry=RetryPolicy(max_retries=0))
        async with BrowserLogin(client, tmp_path / "runapi" / "config.json", hostname="box") as login:
            await anyio.to_thread.run_sync(visit, login.authorize_url)
            outcome = await login.finish(5)
    assert outcome.balance is not None  # the balance check authenticated with the key it was handed
    assert json.loads(outcome.config_file.read_text()) == {"api_key": "sk-only-this-one"}
