"""A RunAPI-compatible local server: the same endpoints, placeholder PNGs, a ledger, and faults on demand."""

from runapi_mcp.sandbox.app import create_app
from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.render import image_size
from runapi_mcp.sandbox.server import RunningSandbox, SandboxThread, running_sandbox
from runapi_mcp.sandbox.state import SandboxState

__all__ = [
    "RunningSandbox",
    "SandboxConfig",
    "SandboxState",
    "SandboxThread",
    "create_app",
    "image_size",
    "running_sandbox",
]
