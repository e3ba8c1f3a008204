from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runapi_mcp.sandbox import RunningSandbox
from tests.support.sandboxes import sandbox_in_loop

TENANT_A = "sk-tenant-a-5f1c0e77"
TENANT_B = "sk-tenant-b-93d2aa10"
SERVER_KEY = "sk-server-side-0c4b8e21"


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """Accepts only the keys these tests hand out, so a request made with any other key fails loudly."""
    async with sandbox_in_loop(accepted_keys=frozenset({TENANT_A, TENANT_B, SERVER_KEY})) as sb:
        yield sb
