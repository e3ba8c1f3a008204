"""The command line as a newcomer meets it: bad settings and flags end in one line and exit 2 before anything
starts, an unknown command lists the commands, and an unsupported Python is told so."""

from __future__ import annotations

import ast
import io
import socket
import subprocess
import sys
import tomllib
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from runapi_mcp import cli
from tests.support.environments import child_env
from tests.support.processes import server_command

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        server_command(*args),
        env=child_env(tmp_path, HOME=str(tmp_path), RUNAPI_MCP_STATE_DIR=str(tmp_path / "s"), **env),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def assert_one_line_refusal(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"RUNAPI_MCP_LOG_LEVEL": "LOUD"}, ("RUNAPI_MCP_LOG_LEVEL", "DEBUG, INFO, WARNING")),
        ({"RUNAPI_BASE_URL": "notaurl"}, ("RUNAPI_BASE_URL", "http:// or https://", "'notaurl'")),
        ({"RUNAPI_BASE_URL": "ftp://files.example"}, ("RUNAPI_BASE_URL", "http:// or https://")),
        (
            {"RUNAPI_MCP_POLL_INITIAL_SECONDS": "10", "RUNAPI_MCP_POLL_MAX_SECONDS": "1"},
            ("RUNAPI_MCP_POLL_INITIAL_SECONDS", "RUNAPI_MCP_POLL_MAX_SECONDS"),
        ),
    ],
)
def test_a_bad_setting_stops_the_server_at_start_with_one_line(
    tmp_path: Path, env: dict[str, str], words: tuple[str, ...]
) -> None:
    assert_one_line_refusal(run_cli(tmp_path, **env), *words)


def test_a_base_url_with_credentials_is_not_printed_whole_at_start(tmp_path: Path) -> None:
    done = run_cli(tmp_path, RUNAPI_BASE_URL="https://me:hunter2@gw.example:8443/v1?token=tok-123")
    assert_one_line_refusal(done, "RUNAPI_BASE_URL", "https://gw.example:8443/v1")
    assert "hunter2" not in done.stderr and "tok-123" not in done.stderr


def test_an_out_of_range_port_flag_is_refused_like_the_variable_and_binds_nothing(tmp_path: Path) -> None:
    flag = run_cli(tmp_path, "--transport", "http", "--port", "99999")
    assert_one_line_refusal(flag, "--port must be a whole number between 0 and 65535, not '99999'")
    variable = run_cli(tmp_path, "--transport", "http", RUNAPI_MCP_PORT="99999")
    assert_one_line_refusal(variable, "RUNAPI_MCP_PORT must be a whole number between 0 and 65535, not '99999'")
    with socket.socket() as probe:  # 99999 wraps to 34463 when it reaches bind()
        assert probe.connect_ex(("127.0.0.1", 99999 % 65536)) != 0


def test_a_host_flag_is_validated_like_its_variable(tmp_path: Path) -> None:
    assert_one_line_refusal(run_cli(tmp_path, "--transport", "http", "--host", "http://0.0.0.0"), "--host must be")


def test_an_unknown_command_lists_the_commands_and_suggests_the_closest(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "doctr")
    assert_one_line_refusal(done, "unknown command 'doctr'", "runapi-mcp doctor", *cli.COMMANDS)
    assert_one_line_refusal(run_cli(tmp_path, "frobnicate"), "unknown command 'frobnicate'", *cli.COMMANDS)


def test_an_unsupported_python_gets_a_sentence_not_a_syntax_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 10, 12, "final", 0))
    err = io.StringIO()
    with redirect_stderr(err):
        assert cli.main(["--version"]) == 2
    assert "runapi-mcp needs Python 3.11 or newer; this is Python 3.10.12" in err.getvalue()
    # The check has to run before anything newer is imported: the entry modules parse on old grammars.
    for name in ("__init__.py", "__main__.py", "cli.py"):
        ast.parse((ROOT / "runapi_mcp" / name).read_text(), feature_version=(3, 8))


def test_the_python_check_and_requires_python_say_the_same_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=" + ".".join(map(str, cli.MIN_PYTHON))
    assert cli.python_problem(sys.version_info[:3]) is None


def test_the_build_backend_refuses_an_unsupported_python_with_the_same_sentence(tmp_path: Path) -> None:
    # pip imports the backend before it resolves anything, so this replaces an error about httpx2.
    pretend = "import sys; sys.version_info = (3, 10, 12, 'final', 0); import runapi_mcp._build"
    done = subprocess.run(
        [sys.executable, "-c", pretend], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == cli.python_problem((3, 10, 12))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert project["build-backend"] == "runapi_mcp._build" and project["backend-path"] == ["."]
