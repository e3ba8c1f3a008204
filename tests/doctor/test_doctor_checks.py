"""doctor's own-machine checks: settings, the key, RunAPI, the balance, the output and state folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from runapi_mcp.settings import Settings
from tests.doctor.helpers import TEST_KEY, one, run_async, run_sync, statuses
from tests.support.environments import offline_settings, project_dir, refused_port
from tests.support.sandboxes import sandbox_in_loop


def test_no_key_is_a_failure_with_the_next_step_and_exit_1(tmp_path: Path) -> None:
    """No key: the key check fails with the next step, dependent checks skip, exit 1."""
    settings = offline_settings(tmp_path)

    code, text = run_sync(tmp_path, settings, start=False)

    assert code == 1
    key_line = one(text, "api key")
    assert key_line.startswith("FAIL  api key: no key found.")
    assert "runapi-mcp login" in key_line
    assert "RUNAPI_API_KEY" in key_line and str(settings.config_file) in key_line
    assert one(text, "balance") == "warn  balance: skipped: no usable API key"
    assert "Traceback" not in text


def test_unreachable_base_url_is_a_failure_naming_it_and_exit_1(tmp_path: Path) -> None:
    """A RunAPI that refuses connections fails the reachability check, names the URL, hides the key, exit 1."""
    port = refused_port()
    settings = offline_settings(tmp_path, RUNAPI_BASE_URL=f"http://127.0.0.1:{port}", RUNAPI_API_KEY=TEST_KEY)

    code, text = run_sync(tmp_path, settings, start=False)

    assert code == 1
    url_line = one(text, "base url")
    assert url_line.startswith(f"FAIL  base url: Could not reach http://127.0.0.1:{port}")
    assert "RUNAPI_BASE_URL" in url_line
    assert one(text, "api key") == "ok    api key: from environment variable RUNAPI_API_KEY"
    assert one(text, "balance") == "warn  balance: skipped: RunAPI did not answer"
    assert TEST_KEY not in text


def test_unwritable_output_dir_is_a_failure_naming_the_path_and_exit_1(tmp_path: Path) -> None:
    # Under a regular file nothing can create a folder, not even root (for whom chmod changes nothing).
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    wanted = blocker / "sub"
    settings = offline_settings(tmp_path, RUNAPI_MCP_OUTPUT_DIR=str(wanted))

    code, text = run_sync(tmp_path, settings, start=False)

    assert code == 1
    line = one(text, "output dir")
    assert line.startswith("FAIL  output dir: RUNAPI_MCP_OUTPUT_DIR")
    assert str(wanted) in line
    # The server would fall back to the per-user folder: doctor tested it, then removed what it made.
    assert not (tmp_path / "fallback-images").exists()


def test_default_output_dir_is_tested_and_not_left_behind(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)

    _, text = run_sync(tmp_path, settings, start=False)

    folder = project_dir(tmp_path) / "runapi-images"
    assert one(text, "output dir") == f"ok    output dir: {folder.resolve()} is writable"
    assert not folder.exists()


def test_working_dir_at_filesystem_root_warns_where_images_would_go(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path / "home"),
        "RUNAPI_MCP_STATE_DIR": str(tmp_path / "state"),
        "RUNAPI_BASE_URL": f"http://127.0.0.1:{refused_port()}",
    }
    settings = Settings.load(env=env, working_dir=Path("/"), fallback_output_dir=tmp_path / "fallback-images")

    code, text = run_sync(tmp_path, settings, start=False)

    assert code == 1  # no key; the folder itself is only a warning
    line = one(text, "output dir")
    assert line.startswith(f"warn  output dir: the server would save images in {tmp_path / 'fallback-images'}")
    assert "RUNAPI_MCP_OUTPUT_DIR" in line
    assert not (tmp_path / "fallback-images").exists()


def test_unusable_state_dir_is_a_failure_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "state-file"
    blocker.write_text("not a folder")
    settings = offline_settings(tmp_path, RUNAPI_MCP_STATE_DIR=str(blocker / "state"))

    code, text = run_sync(tmp_path, settings, start=False)

    assert code == 1
    line = one(text, "state dir")
    assert line.startswith("FAIL  state dir: Cannot create the task journal")
    assert "RUNAPI_MCP_STATE_DIR" in line


def test_bad_setting_is_a_fail_line_not_a_traceback(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "RUNAPI_MCP_PREVIEW": "huge"}

    code, text = run_sync(tmp_path, None, env=env)

    assert code == 1
    assert one(text, "settings").startswith("FAIL  settings: RUNAPI_MCP_PREVIEW must be auto, off, or a size")
    assert statuses(text) == ["FAIL"]
    assert "Traceback" not in text


@pytest.mark.parametrize("placeholder", ["${RUNAPI_API_KEY}", "${env:RUNAPI_API_KEY}", "${input:runapi-api-key}"])
def test_unexpanded_key_reference_is_a_failure(tmp_path: Path, placeholder: str) -> None:
    settings = offline_settings(tmp_path, RUNAPI_API_KEY=placeholder)

    code, text = run_sync(tmp_path, settings, start=False)

    assert code == 1
    line = one(text, "api key")
    assert line.startswith("FAIL  api key: environment variable RUNAPI_API_KEY holds the unexpanded reference")
    assert f"`{placeholder}`" in line
    assert one(text, "balance") == "warn  balance: skipped: no usable API key"


def test_key_from_the_config_file_is_named_by_its_source(tmp_path: Path) -> None:
    config = tmp_path / "home" / ".config" / "runapi" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(f'{{"apiKey": "{TEST_KEY}"}}')
    settings = offline_settings(tmp_path)

    _, text = run_sync(tmp_path, settings, start=False)

    assert one(text, "api key") == f"ok    api key: from config file {config} (apiKey)"
    assert TEST_KEY not in text


@pytest.mark.anyio
async def test_passes_against_a_running_sandbox(tmp_path: Path) -> None:
    """Against the sandbox with a good key every check passes but hosts (none set up: a warning); no key shown."""
    async with sandbox_in_loop(latency=0, balance_cents=1234) as sandbox:
        settings = offline_settings(tmp_path, RUNAPI_BASE_URL=sandbox.url, RUNAPI_API_KEY=TEST_KEY)

        code, text = await run_async(tmp_path, settings)

    assert code == 0, text
    assert one(text, "api key") == "ok    api key: from environment variable RUNAPI_API_KEY"
    assert one(text, "base url").startswith(f"ok    base url: {sandbox.url} answers (price schedules, ")
    assert one(text, "balance") == "ok    balance: key accepted; $12.34 left, $0.00 spent today"
    assert one(text, "state dir").startswith(f"ok    state dir: {tmp_path / 'state'} is writable")
    assert (tmp_path / "state" / "journal.sqlite3").is_file()
    assert one(text, "hosts").startswith("warn  hosts: no host config found")
    assert statuses(text) == ["ok"] * 6 + ["warn"]
    assert text.rstrip().endswith("0 failures, 1 warning, 6 passed.")
    assert TEST_KEY not in text


@pytest.mark.anyio
async def test_rejected_key_fails_the_balance_check_without_showing_the_key(tmp_path: Path) -> None:
    async with sandbox_in_loop(latency=0, accepted_keys=frozenset({"sk-some-other-key"})) as sandbox:
        settings = offline_settings(tmp_path, RUNAPI_BASE_URL=sandbox.url, RUNAPI_API_KEY=TEST_KEY)

        code, text = await run_async(tmp_path, settings, start=False)

    assert code == 1
    line = one(text, "balance")
    assert line.startswith("FAIL  balance: RunAPI refused the key (401")
    assert "RUNAPI_API_KEY" in line
    assert TEST_KEY not in text


@pytest.mark.anyio
async def test_empty_balance_is_a_warning(tmp_path: Path) -> None:
    async with sandbox_in_loop(latency=0, balance_cents=0) as sandbox:
        settings = offline_settings(tmp_path, RUNAPI_BASE_URL=sandbox.url, RUNAPI_API_KEY=TEST_KEY)

        code, text = await run_async(tmp_path, settings, start=False)

    assert code == 0
    assert one(text, "balance").startswith("warn  balance: key accepted, but $0.00 left")


@pytest.mark.anyio
async def test_sandbox_mode_passes_without_a_key(tmp_path: Path) -> None:
    settings = offline_settings(tmp_path)

    code, text = await run_async(tmp_path, settings, sandbox=True, start=False)

    assert code == 0, text
    assert one(text, "api key") == "ok    api key: none needed: checking against the in-process sandbox"
    assert "(the in-process sandbox, " in one(text, "base url")
    assert one(text, "state dir").endswith("the task journal sandbox-journal.sqlite3 opens")
