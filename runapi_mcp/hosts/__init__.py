"""Host setup: `runapi-mcp init <target>` and the manifests, from one source of truth."""

from runapi_mcp.hosts.cli import add_arguments, run_init
from runapi_mcp.hosts.errors import InitError
from runapi_mcp.hosts.init import InitPlan, apply_init, plan_init, render_new
from runapi_mcp.hosts.launch import ServerLaunch, default_launch, parse_command
from runapi_mcp.hosts.links import cursor_deeplink, cursor_install_url
from runapi_mcp.hosts.targets import TARGETS, HostTarget

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
