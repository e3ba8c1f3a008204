"""`runapi-mcp login`, `logout` and `whoami` end to end: the real CLI process, the sandbox on loopback, and
the scripted browser started by Python's webbrowser module through BROWSER, as a real browser would be."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from runapi_mcp.sandbox import SandboxConfig, SandboxThread
from tests.login.helpers import BROWSER_COMMAND, cli_env, config_path, files_containing, read_json, run_cli

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(SandboxConfig(latency=0.05)) as sb:
        yield sb


def _login_env(tmp_path: Path, sandbox: SandboxThread, mode: str = "approve", **extra: str) -> dict[str, str]:
    return cli_env(
        tmp_path / "home",
        sandbox.url,
        BROWSER=BROWSER_COMMAND,
        SCRIPTED_BROWSER_MODE=mode,
        SCRIPTED_BROWSER_LOG=str(tmp_path / "browser.log"),
        **extra,
    )


def _browser_log(tmp_path: Path) -> list[str]:
    return (tmp_path / "browser.log").read_text().splitlines()


def test_login_saves_a_working_key_only_in_the_config_file_with_private_permissions(
    tmp_path: Path, sandbox: SandboxThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the sandbox runs in this process: its logs land here
    config = config_path(tmp_path / "home")
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"apiKey": "legacy-key-0000", "base_url": sandbox.url, "theme": "dark"}))
    config.parent.chmod(0o755)

    done = run_cli(_login_env(tmp_path, sandbox), "login", "--timeout", "30")

    assert done.returncode == 0, done.stderr
    assert _browser_log(tmp_path) == ["page 200", "200 /callback"]
    saved = read_json(config)
    key = saved["api_key"]
    assert saved == {"api_key": key, "base_url": sandbox.url, "theme": "dark"}  # legacy apiKey gone, rest kept
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert "Signed in as sandbox@runapi-mcp.invalid" in done.stdout and "Balance: $10.00" in done.stdout
    assert key not in done.stdout + done.stderr
    assert files_containing(tmp_path, key) == [config]  # no temp file, log or copy anywhere else
    # The sandbox accepts the key it issued: whoami authenticates with it.
    who = run_cli(cli_env(tmp_path / "home", sandbox.url), "whoami")
    assert who.returncode == 0, who.stderr
    assert "Sandbox User <sandbox@runapi-mcp.invalid>" in who.stdout and f"…{key[-4:]}" in who.stdout
    assert key not in who.stdout + who.stderr
    assert key not in caplog.text


def test_a_callback_with_a_foreign_state_gets_400_and_the_login_keeps_waiting_for_its_own(
    tmp_path: Path, sandbox: SandboxThread
) -> None:
    done = run_cli(_login_env(tmp_path, sandbox, mode="wrong-state-first"), "login", "--timeout", "30")

    assert done.returncode == 0, done.stderr
    assert _browser_log(tmp_path) == ["page 200", "400 /callback", "200 /callback"]
    assert "api_key" in read_json(config_path(tmp_path / "home"))


def test_login_times_out_cleanly_with_one_line_and_saves_nothing(tmp_path: Path, sandbox: SandboxThread) -> None:
    done = run_cli(cli_env(tmp_path / "home", sandbox.url), "login", "--no-browser", "--timeout", "1")

    assert done.returncode == 1
    assert done.stderr.strip() == "runapi-mcp: Nobody approved the sign-in within 1 s."
    assert "/cli/authorize?state=" in done.stdout  # the URL is printed for opening by hand
    assert not config_path(tmp_path / "home").exists()


def test_login_into_an_unwritable_config_folder_fails_in_one_line_before_opening_the_browser(
    tmp_path: Path, sandbox: SandboxThread
) -> None:
    # A file where the folder must go: no one, root included, can create the folder or write into it.
    blocked = tmp_path / "home" / ".config" / "runapi"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a folder")

    done = run_cli(_login_env(tmp_path, sandbox), "login", "--timeout", "30")

    assert done.returncode == 1
    line = done.stderr.strip()
    assert line.startswith("runapi-mcp: Cannot write the RunAPI config file in ") and "\n" not in line, line
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "browser.log").exists()  # refused before the user was sent to approve anything
    assert blocked.read_text() == "not a folder"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_a_denied_sign_in_exits_non_zero_and_saves_nothing(tmp_path: Path, sandbox: SandboxThread) -> None:
    done = run_cli(_login_env(tmp_path, sandbox, mode="deny"), "login", "--timeout", "30")

    assert done.returncode == 1
    assert done.stderr.strip() == "runapi-mcp: The sign-in was not approved in the browser (access_denied)."
    assert not config_path(tmp_path / "home").exists()


def test_an_exchange_refused_by_runapi_is_one_line_and_saves_nothing(tmp_path: Path, sandbox: SandboxThread) -> None:
    fault = {"fault": "403;message=This account cannot use CLI keys.", "method": "POST", "path": "/api/v1/cli/exchange"}
    httpx2.post(f"{sandbox.url}/_sandbox/faults", json={"faults": [fault]}).raise_for_status()

    done = run_cli(_login_env(tmp_path, sandbox), "login", "--timeout", "30")

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "runapi-mcp: RunAPI refused the sign-in (403: This account cannot use CLI keys). Try again."
    )
    assert not config_path(tmp_path / "home").exists()


def test_logout_removes_only_the_key_and_whoami_then_says_not_signed_in(tmp_path: Path, sandbox: SandboxThread) -> None:
    config = config_path(tmp_path / "home")
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"api_key": "sk-saved-key-1234567890", "apiKey": "old", "base_url": sandbox.url}))
    env = cli_env(tmp_path / "home", sandbox.url)

    out = run_cli(env, "logout")
    assert out.returncode == 0 and f"removed the RunAPI key from {config}" in out.stdout
    assert read_json(config) == {"base_url": sandbox.url}
    again = run_cli(env, "logout")
    assert again.returncode == 0 and "nothing to remove" in again.stdout

    who = run_cli(env, "whoami")
    assert who.returncode == 1
    assert (
        who.stderr.strip() == f"runapi-mcp: Not signed in: no key in RUNAPI_API_KEY or {config}. Run: runapi-mcp login"
    )


def test_whoami_names_the_account_and_the_key_source_but_never_the_key(tmp_path: Path, sandbox: SandboxThread) -> None:
    key = "sk-environment-key-abcdef123456"
    done = run_cli(cli_env(tmp_path / "home", sandbox.url, RUNAPI_API_KEY=key), "whoami")

    assert done.returncode == 0, done.stderr
    assert "as Sandbox User <sandbox@runapi-mcp.invalid>" in done.stdout
    assert "from environment variable RUNAPI_API_KEY" in done.stdout and "…3456" in done.stdout
    assert key not in done.stdout + done.stderr


def test_whoami_with_a_rejected_key_fails_in_one_line(tmp_path: Path) -> None:
    with SandboxThread(SandboxConfig(accepted_keys=frozenset({"sk-the-only-good-key"}))) as sandbox:
        done = run_cli(cli_env(tmp_path / "home", sandbox.url, RUNAPI_API_KEY="sk-wrong-key-000000000"), "whoami")

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "runapi-mcp: RunAPI rejects the key from environment variable RUNAPI_API_KEY (Invalid API key). "
        "Run: runapi-mcp login"
    )
    assert "sk-wrong-key" not in done.stderr
