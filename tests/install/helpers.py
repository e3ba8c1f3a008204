"""Shared facts for the host tests: every init target and scope, and how to read what was written."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY_VAR = "RUNAPI_API_KEY"

# (target, --user): every scope every host has.
CASES: list[tuple[str, bool]] = [
    ("claude", False),
    ("claude", True),
    ("claude-desktop", True),
    ("codex", False),
    ("codex", True),
    ("cursor", False),
    ("cursor", True),
    ("vscode", False),
    ("vscode", True),
    ("windsurf", True),
    ("roo", False),
]

# Where each (target, scope) lives, relative to the project dir (project) or home (user), on Linux.
EXPECTED_PATHS: dict[tuple[str, bool], str] = {
    ("claude", False): ".mcp.json",
    ("claude", True): ".claude.json",
    ("claude-desktop", True): ".config/Claude/claude_desktop_config.json",
    ("codex", False): ".codex/config.toml",
    ("codex", True): ".codex/config.toml",
    ("cursor", False): ".cursor/mcp.json",
    ("cursor", True): ".cursor/mcp.json",
    ("vscode", False): ".vscode/mcp.json",
    ("vscode", True): ".config/Code/User/mcp.json",
    ("windsurf", True): ".codeium/windsurf/mcp_config.json",
    ("roo", False): ".roo/mcp.json",
}

CONTAINER = {"vscode": "servers", "codex": "mcp_servers"}

# The keys each host reads for a stdio server, and what ours hold when the key is forwarded by name.
EXPECTED_ENTRIES: dict[str, dict[str, Any]] = {
    "claude": {"command": "uvx", "args": ["runapi-mcp"], "env": {KEY_VAR: "${RUNAPI_API_KEY:-}"}},
    "claude-desktop": {"command": "uvx", "args": ["runapi-mcp"]},
    "codex": {
        "command": "uvx",
        "args": ["runapi-mcp"],
        "env_vars": [KEY_VAR, "RUNAPI_BASE_URL"],
        "startup_timeout_sec": 60,
        "tool_timeout_sec": 180,
        "tools": {"get_task": {"approval_mode": "approve"}},
    },
    "cursor": {"command": "uvx", "args": ["runapi-mcp"], "env": {KEY_VAR: "${env:RUNAPI_API_KEY}"}},
    "vscode": {
        "type": "stdio",
        "command": "uvx",
        "args": ["runapi-mcp"],
        "env": {KEY_VAR: "${input:runapi-api-key}"},
    },
    "windsurf": {"command": "uvx", "args": ["runapi-mcp"], "env": {KEY_VAR: "${env:RUNAPI_API_KEY}"}},
    "roo": {"command": "uvx", "args": ["runapi-mcp"], "env": {KEY_VAR: "${env:RUNAPI_API_KEY}"}, "timeout": 180},
}

OTHER_JSON_SERVER = {"command": "npx", "args": ["-y", "other-server"], "env": {"OTHER_TOKEN": "abc"}}
OTHER_TOML = """# my Codex settings
model = "gpt-5"

[mcp_servers.other]
command = "npx"  # keep this comment
args = ["-y", "other-server"]

[mcp_servers.other.env]
OTHER_TOKEN = "abc"

[profiles.fast]
model = "o4-mini"
"""


def is_toml(target: str) -> bool:
    return target == "codex"


def container(target: str) -> str:
    return CONTAINER.get(target, "mcpServers")


def parse(target: str, text: str) -> dict[str, Any]:
    return tomllib.loads(text) if is_toml(target) else json.loads(text)


def other_file(target: str) -> str:
    """An existing config holding another server and an unrelated setting."""
    if is_toml(target):
        return OTHER_TOML
    other = {"type": "stdio", **OTHER_JSON_SERVER} if target == "vscode" else OTHER_JSON_SERVER
    return json.dumps({"theme": {"keep": [1, 2, 3]}, container(target): {"other": other}}, indent=2) + "\n"


def broken_file(target: str) -> tuple[str, str]:
    """An unparsable config and the line its error is on, as the message must say it."""
    if is_toml(target):
        return 'model = "gpt-5"\n[mcp_servers.other\ncommand = "npx"\n', "line 2"
    return '{\n  "mcpServers": {\n    "other": {"command": "npx",}\n  }\n}\n', ":3:"
