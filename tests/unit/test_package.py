"""Package-level facts: the version, the console script, and the settings contract."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import runapi_mcp
from runapi_mcp.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_package_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert runapi_mcp.__version__ == project["version"]


@pytest.mark.parametrize(
    "command",
    [["runapi-mcp", "--version"], [sys.executable, "-m", "runapi_mcp", "--version"]],
    ids=["console-script", "module"],
)
def test_version_flag_prints_the_version(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == f"runapi-mcp {runapi_mcp.__version__}"


def write_config_file(tmp_path: Path) -> dict[str, str]:
    """A config file with a key and a base URL; returns the environment that points at it."""
    config = tmp_path / "xdg" / "runapi" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"apiKey": "sk-from-file", "baseUrl": "http://127.0.0.1:9/"}')
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def test_config_file_gives_the_key_and_base_url_and_says_where_the_key_came_from(tmp_path: Path) -> None:
    from_file = Settings.load(env=write_config_file(tmp_path))
    assert from_file.api_key is not None and from_file.api_key.get_secret_value() == "sk-from-file"
    assert from_file.base_url == "http://127.0.0.1:9" and "apiKey" in (from_file.api_key_source or "")


def test_env_key_wins_over_config_file(tmp_path: Path) -> None:
    from_env = Settings.load(env={**write_config_file(tmp_path), "RUNAPI_API_KEY": "sk-env"})
    assert from_env.api_key is not None and from_env.api_key.get_secret_value() == "sk-env"


def test_settings_never_print_the_key(tmp_path: Path) -> None:
    from_env = Settings.load(env={**write_config_file(tmp_path), "RUNAPI_API_KEY": "sk-env"})
    assert "sk-env" not in repr(from_env) and "sk-env" not in str(from_env.model_dump())


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("RUNAPI_MCP_WAIT_SECONDS", "soon", "RUNAPI_MCP_WAIT_SECONDS must be a number"),
        ("RUNAPI_MCP_PREVIEW", "huge", "auto, off, or a size"),
        ("RUNAPI_MCP_HTTP_AUTH", "magic", "none, per-request, token"),
        ("RUNAPI_MCP_STRUCTURED_OUTPUT", "maybe", "true or false"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_and_what_it_accepts(name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        Settings.load(env={name: value, "HOME": "/nonexistent"})


def test_bad_setting_at_start_up_is_one_line_and_exit_2_not_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runapi_mcp"],
        env={"RUNAPI_MCP_WAIT_SECONDS": "soon", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "RUNAPI_MCP_WAIT_SECONDS" in done.stderr and "Traceback" not in done.stderr


def _imports(folder: Path) -> set[tuple[str, str]]:
    import ast

    found: set[tuple[str, str]] = set()
    for source in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((source.name, node.module))
            elif isinstance(node, ast.Import):
                found.update((source.name, alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("runapi", ("mcp", "runapi_mcp.core", "runapi_mcp.server", "runapi_mcp.sandbox")),
        ("core", ("mcp", "runapi_mcp.server", "runapi_mcp.sandbox")),
    ],
)
def test_dependencies_point_one_way_server_core_runapi(layer: str, forbidden: tuple[str, ...]) -> None:
    wrong = sorted(
        f"{name} imports {module}"
        for name, module in _imports(ROOT / "runapi_mcp" / layer)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    )
    assert not wrong, wrong
