from __future__ import annotations

from collections.abc import Iterator

import pytest

from runapi_mcp.sandbox import SandboxThread
from tests.support.sandboxes import sandbox_on_thread


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    """The sandbox on its own thread, so a test may block while the server subprocess talks to it."""
    with sandbox_on_thread(latency=0.3) as sb:
        yield sb
