"""The flow reads the journal once per task: the record built at the start travels the whole route."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from runapi_mcp.core.journal import Journal
from tests.support.in_memory import ClientFactory
from tests.support.mcp_http import text_of

pytestmark = pytest.mark.anyio

READS = ("get", "get_by_key", "recent")


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counted: Counter[str] = Counter()
    for name in READS:
        real = getattr(Journal, name)

        async def spy(self: Journal, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            counted[_name] += 1
            return await _real(self, *args, **kwargs)

        monkeypatch.setattr(Journal, name, spy)
    return counted


async def test_a_generate_that_waits_reads_the_journal_once_per_task(
    connect: ClientFactory, reads: Counter[str]
) -> None:
    async with connect() as client:
        one = await client.call_tool("generate_image", {"prompt": "one task"})
        assert not one.is_error, text_of(one)
        assert sum(reads.values()) == 1, reads
        reads.clear()
        three = await client.call_tool("generate_image", {"prompt": "three tasks", "count": 3})
        assert not three.is_error, text_of(three)
    assert sum(reads.values()) == 3, reads


async def test_get_task_on_a_pending_task_reads_the_journal_once(connect: ClientFactory, reads: Counter[str]) -> None:
    async with connect() as client:
        created = await client.call_tool("generate_image", {"prompt": "later", "wait": False})
        task_id = created.structured_content["tasks"][0]["task_id"]
        reads.clear()
        followed = await client.call_tool("get_task", {"task_id": task_id, "wait": True})
    assert not followed.is_error, text_of(followed)
    assert followed.structured_content["tasks"][0]["status"] == "completed"
    assert sum(reads.values()) == 1, reads
