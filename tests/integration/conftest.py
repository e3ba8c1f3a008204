from __future__ import annotations

from collections.abc import Iterator

import pytest

from runapi_mcp.sandbox import SandboxConfig, SandboxThread


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    """The sandbox on its own thread, so a test may block while the server subprocess talks to it."""
    with SandboxThread(SandboxConfig(latency=0.3, balance_cents=10_000)) as sb:
        yield sb
