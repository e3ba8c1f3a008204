"""The old names of the server tests' helpers, for tests not yet moved onto tests/support (import from there)."""

from __future__ import annotations

from tests.support.environments import TEST_KEY
from tests.support.environments import server_settings as make_settings
from tests.support.in_memory import ClientFactory
from tests.support.mcp_http import text_of

__all__ = ["TEST_KEY", "ClientFactory", "make_settings", "text_of"]
