"""Host setup: `runapi-mcp init <target>` and the manifests, from one source of truth.

Names load on first use: building the command line imports this package, and serving should not pay for
tomlkit and the file editors.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runapi_mcp.install.cli import add_arguments, run_init
    from runapi_mcp.install.errors import InitError
    from runapi_mcp.install.init import InitPlan, apply_init, plan_init, render_new
    from runapi_mcp.install.launch import ServerLaunch, default_launch, parse_command
    from runapi_mcp.install.links import cursor_deeplink, cursor_install_url
    from runapi_mcp.install.targets import TARGETS, HostTarget

_EXPORTS = {
    "add_arguments": "cli",
    "run_init": "cli",
    "InitError": "errors",
    "InitPlan": "init",
    "apply_init": "init",
    "plan_init": "init",
    "render_new": "init",
    "ServerLaunch": "launch",
    "default_launch": "launch",
    "parse_command": "launch",
    "cursor_deeplink": "links",
    "cursor_install_url": "links",
    "TARGETS": "targets",
    "HostTarget": "targets",
}

__all__ = [
    "TARGETS",
    "HostTarget",
    "InitError",
    "InitPlan",
    "ServerLaunch",
    "add_arguments",
    "apply_init",
    "cursor_deeplink",
    "cursor_install_url",
    "default_launch",
    "parse_command",
    "plan_init",
    "render_new",
    "run_init",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
