"""Generate every install manifest from the same source as `runapi-mcp init`.

    python -m runapi_mcp.install.manifests --write   # regenerate the files
    python -m runapi_mcp.install.manifests --check   # exit 1 and list the files that drifted

Paths are relative to the repository root (the folder holding pyproject.toml).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runapi_mcp import __version__
from runapi_mcp.install import deploy
from runapi_mcp.install.init import render_new
from runapi_mcp.install.launch import (
    BASE_URL_VAR,
    KEY_VAR,
    PACKAGE,
    REGISTRY_NAME,
    SERVER_NAME,
    STARTUP_TIMEOUT_SEC,
    TOOL_TIMEOUT_SEC,
)
from runapi_mcp.install.links import cursor_deeplink, cursor_install_url
from runapi_mcp.install.skill import SKILL_NAME, skill_markdown
from runapi_mcp.install.targets import FREE_WRITING_TOOLS

SERVER_JSON_SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
REPOSITORY_URL = "https://github.com/runapi/runapi-mcp"
AUTHOR = {"name": "runapi-mcp developers"}
PLUGIN_NAME = "runapi"
MARKETPLACE_NAME = "runapi-mcp"
# The MCP registry caps this at 100 characters.
DESCRIPTION = "Generate and edit images with RunAPI's GPT Image 2 from any coding agent, saved in your project."
LONG_DESCRIPTION = (
    "Text to image and image editing with RunAPI's GPT Image 2. Results are saved into the project with a small "
    "preview the agent can see, the URL and the cost; tasks are journaled so none is lost or paid twice; local "
    "files can be edited; and a skill teaches the agent to prompt well and count the cost first."
)
KEYWORDS = ["mcp", "image-generation", "gpt-image-2", "runapi", "image-editing"]

CLAUDE_PLUGIN_DIR = "manifests/claude-plugin"
CODEX_PLUGIN_DIR = "manifests/codex-plugin"
EXAMPLES = {
    "claude": "claude-mcp.json",
    "claude-desktop": "claude_desktop_config.json",
    "codex": "codex-config.toml",
    "cursor": "cursor-mcp.json",
    "vscode": "vscode-mcp.json",
    "windsurf": "windsurf-mcp_config.json",
    "roo": "roo-mcp.json",
}


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def plugin_mcp_json(version: str) -> dict[str, Any]:
    """The plugin's .mcp.json, read by Claude Code and Codex alike.

    Claude Code passes its environment to the server and ignores the Codex-only keys; Codex needs
    `env_vars` to pass the key through, and the timeouts for a first `uvx` install and a slow generation.
    The package is pinned to the plugin's version so a plugin update is a server update.
    """
    return {
        "mcpServers": {
            SERVER_NAME: {
                "command": "uvx",
                "args": [f"{PACKAGE}@{version}"],
                "env_vars": [KEY_VAR, BASE_URL_VAR],
                "startup_timeout_sec": STARTUP_TIMEOUT_SEC,
                "tool_timeout_sec": TOOL_TIMEOUT_SEC,
                # Codex: get_task (free, but it saves files) runs without a prompt, as `init codex` writes;
                # paid tools keep asking, since installing a plugin is not asking for unprompted spending.
                "tools": {name: {"approval_mode": "approve"} for name in FREE_WRITING_TOOLS},
            }
        }
    }


def claude_plugin_json(version: str) -> dict[str, Any]:
    return {
        "name": PLUGIN_NAME,
        "version": version,
        "description": DESCRIPTION,
        "author": AUTHOR,
        "homepage": REPOSITORY_URL,
        "repository": REPOSITORY_URL,
        "license": "MIT",
        "keywords": KEYWORDS,
    }


def claude_marketplace_json(version: str) -> dict[str, Any]:
    return {
        "name": MARKETPLACE_NAME,
        "owner": AUTHOR,
        "metadata": {"description": "RunAPI's GPT Image 2 for Claude Code: MCP server and prompting skill."},
        "plugins": [
            {
                "name": PLUGIN_NAME,
                "source": f"./{CLAUDE_PLUGIN_DIR}",
                "description": DESCRIPTION,
                "version": version,
                "author": AUTHOR,
                "homepage": REPOSITORY_URL,
                "license": "MIT",
                "category": "design",
                "keywords": KEYWORDS,
            }
        ],
    }


def codex_plugin_json(version: str) -> dict[str, Any]:
    # The same identity as Claude Code's plugin.json, plus what Codex reads beside it.
    return {
        **claude_plugin_json(version),
        "skills": "./skills/",
        "mcpServers": "./.mcp.json",
        "interface": {
            "displayName": "RunAPI GPT Image 2",
            "shortDescription": "Generate and edit images with GPT Image 2, saved in your project",
            "longDescription": LONG_DESCRIPTION,
            "developerName": AUTHOR["name"],
            "category": "Design",
            "capabilities": ["Interactive", "Write"],
            "websiteURL": REPOSITORY_URL,
            # Codex shows at most 3, each at most 128 characters.
            "defaultPrompt": [
                "Make a 16:9 hero image for this project's landing page and save it in the assets folder",
                "Turn our logo into a flat 1:1 app icon",
                "What would four 4k images cost, and what is my balance?",
            ],
        },
    }


def codex_marketplace_json() -> dict[str, Any]:
    return {
        "name": MARKETPLACE_NAME,
        "interface": {"displayName": "RunAPI"},
        "plugins": [
            {
                "name": PLUGIN_NAME,
                "source": {"source": "local", "path": f"./{CODEX_PLUGIN_DIR}"},
                "policy": {"installation": "AVAILABLE", "authentication": "ON_INSTALL"},
                "category": "Design",
            }
        ],
    }


def server_json(version: str) -> dict[str, Any]:
    return {
        "$schema": SERVER_JSON_SCHEMA,
        "name": REGISTRY_NAME,
        "description": DESCRIPTION,
        "version": version,
        "repository": {"url": REPOSITORY_URL, "source": "github"},
        "packages": [
            {
                "registryType": "pypi",
                "registryBaseUrl": "https://pypi.org",
                "identifier": PACKAGE,
                "version": version,
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "environmentVariables": [
                    {
                        "name": KEY_VAR,
                        "description": "Your RunAPI API key. Optional: without it the server reads "
                        "~/.config/runapi/config.json, and says how to add a key when none is found.",
                        "isRequired": False,
                        "isSecret": True,
                        "format": "string",
                    },
                    {
                        "name": BASE_URL_VAR,
                        "description": "RunAPI's base URL, for a proxy or a self-hosted sandbox.",
                        "isRequired": False,
                        "isSecret": False,
                        "format": "string",
                        "default": "https://runapi.ai",
                    },
                    {
                        "name": "RUNAPI_MCP_OUTPUT_DIR",
                        "description": "Folder for saved images; default ./runapi-images in the working directory.",
                        "isRequired": False,
                        "isSecret": False,
                        "format": "filepath",
                    },
                ],
            }
        ],
    }


def _examples_readme() -> str:
    rows = "\n".join(f"| `{t}` | `{name}` |" for t, name in EXAMPLES.items())
    return f"""# Host config examples

Each file holds exactly what `runapi-mcp init <target>` writes into an empty config file.
Generated by `python -m runapi_mcp.install.manifests --write`; edit the generator, not these files.

| target | file |
|---|---|
{rows}

Cursor one-click install: see `cursor-install-links.md`.
"""


def _cursor_links() -> str:
    return f"""# Cursor install links

Deeplink (paste into a browser, or click where `cursor://` links work):

    {cursor_deeplink()}

Web link (works in GitHub READMEs, which drop `cursor://` links):

    {cursor_install_url()}

Markdown button:

    [![Add runapi to Cursor](https://cursor.com/deeplink/mcp-install-dark.svg)]({cursor_install_url()})
"""


def render_manifests(version: str = __version__) -> dict[str, str]:
    """Every generated file, by repository-relative POSIX path."""
    skill = skill_markdown()
    plugin_mcp = _json(plugin_mcp_json(version))
    files: dict[str, str] = {
        ".claude-plugin/marketplace.json": _json(claude_marketplace_json(version)),
        ".agents/plugins/marketplace.json": _json(codex_marketplace_json()),
        f"{CLAUDE_PLUGIN_DIR}/.claude-plugin/plugin.json": _json(claude_plugin_json(version)),
        f"{CLAUDE_PLUGIN_DIR}/.mcp.json": plugin_mcp,
        f"{CLAUDE_PLUGIN_DIR}/skills/{SKILL_NAME}/SKILL.md": skill,
        f"{CODEX_PLUGIN_DIR}/.codex-plugin/plugin.json": _json(codex_plugin_json(version)),
        f"{CODEX_PLUGIN_DIR}/.mcp.json": plugin_mcp,
        f"{CODEX_PLUGIN_DIR}/skills/{SKILL_NAME}/SKILL.md": skill,
        "manifests/server.json": _json(server_json(version)),
        "manifests/examples/README.md": _examples_readme(),
        "manifests/examples/cursor-install-links.md": _cursor_links(),
        "manifests/docker/Dockerfile": deploy.dockerfile(),
        "manifests/docker/Dockerfile.dockerignore": deploy.dockerignore(),
        "manifests/kubernetes/deployment.yaml": deploy.deployment_yaml(version),
        "manifests/kubernetes/service.yaml": deploy.service_yaml(version),
        "manifests/kubernetes/pdb.yaml": deploy.pdb_yaml(version),
        "manifests/kubernetes/secret.yaml": deploy.secret_yaml(version),
    }
    for target, name in EXAMPLES.items():
        files[f"manifests/examples/{name}"] = render_new(target)
    return files


def drifted(root: Path, version: str = __version__) -> list[str]:
    """Generated files that are missing or differ on disk."""
    out: list[str] = []
    for rel, text in render_manifests(version).items():
        path = root / rel
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            out.append(rel)
    return out


def write(root: Path, version: str = __version__) -> list[str]:
    changed = drifted(root, version)
    files = render_manifests(version)
    for rel in changed:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[rel], encoding="utf-8", newline="\n")
    return changed


def _default_root() -> Path:
    return Path(__file__).resolve().parents[2]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runapi_mcp.install.manifests", description="Generate or check the install manifests."
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the manifests")
    mode.add_argument("--check", action="store_true", help="exit 1 if any manifest differs from the generator")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    root: Path = args.root or _default_root()
    if not (root / "pyproject.toml").is_file():
        print(f"{root} has no pyproject.toml: pass the repository root with --root.", file=sys.stderr)
        return 2
    if args.write:
        for rel in write(root):
            print(f"wrote {rel}")
        return 0
    stale = drifted(root)
    for rel in stale:
        print(f"out of date: {rel}", file=sys.stderr)
    if stale:
        print("Run `python -m runapi_mcp.install.manifests --write`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
