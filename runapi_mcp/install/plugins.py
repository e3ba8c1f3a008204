"""What the plugins and the MCP registry are told: the plugins' .mcp.json and plugin.json files, their
marketplaces, and the registry's server.json, all built from the same facts as `runapi-mcp init`."""

from __future__ import annotations

from typing import Any

from runapi_mcp.install.launch import (
    BASE_URL_VAR,
    KEY_VAR,
    PACKAGE,
    REGISTRY_NAME,
    SERVER_NAME,
    STARTUP_TIMEOUT_SEC,
    TOOL_TIMEOUT_SEC,
)
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
CLAUDE_PLUGIN_DIR = "manifests/claude-plugin"
CODEX_PLUGIN_DIR = "manifests/codex-plugin"
KEYWORDS = ["mcp", "image-generation", "gpt-image-2", "runapi", "image-editing"]


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
