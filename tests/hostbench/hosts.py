"""Run the real Claude Code and Codex CLIs, non-interactively, against the scripted model.

Each run gets a scratch HOME (and CODEX_HOME), telemetry and updates off, and a hard time bound.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostbench.fake_model import SERVER, Script, fake_model

RUN_TIMEOUT = 150  # seconds for one whole CLI session; far above a normal run (10-40 s)
MODEL_CLAUDE = "claude-sonnet-4-5"
MODEL_CODEX = "gpt-5.5"  # a function-calling model: Codex's code-mode models reach MCP tools only from JS


def cli(name: str) -> str:
    """The CLI from RUNAPI_MCP_TEST_NPM_BIN (what .ci/run installs), else PATH; skips only outside CI."""
    bin_dir = os.environ.get("RUNAPI_MCP_TEST_NPM_BIN")
    if bin_dir and (Path(bin_dir) / name).exists():
        return str(Path(bin_dir) / name)
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"`{name}` is missing in CI: .ci/run must install it into RUNAPI_MCP_TEST_NPM_BIN")
        pytest.skip(f"`{name}` is not installed (npm could not install it; set RUNAPI_MCP_TEST_NPM_BIN)")
    return found


def cli_version(path: str) -> str:
    """`2.1.332 (Claude Code)` and `codex-cli 0.171.0` both carry the version as the one dotted word."""
    done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    words = [w for w in done.stdout.split() if w[:1].isdigit() and "." in w]
    return words[0] if words else "unknown"


@dataclass
class Session:
    script: Script
    stdout: str
    stderr: str
    returncode: int
    home: Path
    project: Path


def server_command(extra_env: dict[str, str] | None = None) -> dict[str, object]:
    """Our server as the hosts start it: `runapi-mcp --sandbox`, no key."""
    env = {"RUNAPI_MCP_SANDBOX_LATENCY": "1"} | (extra_env or {})
    return {"command": sys.executable, "args": ["-m", "runapi_mcp", "--sandbox"], "env": env}


def base_env(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "CODEX_HOME": str(home / ".codex"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "NO_COLOR": "1",
    }


def _dirs(tmp: Path) -> tuple[Path, Path]:
    home, project = tmp / "home", tmp / "project"
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    project.mkdir(parents=True, exist_ok=True)
    return home, project


def _run(args: list[str], env: dict[str, str], cwd: Path, script: Script, home: Path) -> Session:
    try:
        done = subprocess.run(
            args, env=env, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{args[0]} did not finish in {RUN_TIMEOUT} s; replies so far: {script.replies}") from exc
    return Session(script, done.stdout, done.stderr, done.returncode, home, cwd)


def run_claude(script: Script, tmp: Path, *, server: dict[str, object] | None = None) -> Session:
    claude = cli("claude")
    home, project = _dirs(tmp)
    config = tmp / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {SERVER: server or server_command()}}))
    allowed = ",".join(f"mcp__{SERVER}__{step.tool}" for step in script.steps)
    with fake_model(script) as url:
        env = base_env(home) | {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sk-ant-fake-model"}
        args = [
            claude,
            "-p",
            "Make the images the scripted model asks for.",
            "--model",
            MODEL_CLAUDE,
            "--mcp-config",
            str(config),
            "--strict-mcp-config",
            "--allowedTools",
            allowed,
            "--output-format",
            "stream-json",
            "--verbose",
        ]
        return _run(args, env, project, script, home)


def codex_provider_toml(url: str) -> str:
    """The only thing the bench adds to a Codex config: the scripted model as its provider."""
    return (
        f'model = "{MODEL_CODEX}"\nmodel_provider = "fake"\n\n'
        f'[model_providers.fake]\nname = "fake"\nbase_url = "{url}/v1"\nwire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n\n"
    )


def codex_server_toml(server: dict[str, object]) -> str:
    env = server.get("env") or {}
    lines = [
        f"[mcp_servers.{SERVER}]",
        f"command = {json.dumps(server['command'])}",
        f"args = {json.dumps(server['args'])}",
        'default_tools_approval_mode = "approve"',
    ]
    if env:
        lines.append(f"[mcp_servers.{SERVER}.env]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in env.items())  # pyright: ignore
    return "\n".join(lines) + "\n"


def run_codex(script: Script, tmp: Path, *, server_toml: str | None = None, path_prefix: Path | None = None) -> Session:
    """`codex exec`; `server_toml` replaces our server's table (e.g. with what `init codex` wrote). What is
    already in the config.toml (a plugin install's record) stays, after the provider."""
    codex = cli("codex")
    home, project = _dirs(tmp)
    config = home / ".codex" / "config.toml"
    existing = config.read_text() if config.exists() else ""
    with fake_model(script) as url:
        ours = server_toml if server_toml is not None else codex_server_toml(server_command())
        config.write_text(codex_provider_toml(url) + ours + "\n" + existing)
        env = base_env(home) | {"OPENAI_API_KEY": "sk-fake-model"}
        if path_prefix is not None:
            env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
        args = [codex, "exec", "--json", "--skip-git-repo-check", "Make the images the scripted model asks for."]
        return _run(args, env, project, script, home)
