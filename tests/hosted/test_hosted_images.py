"""Hosted results on one shared journal, on both engines: each image downloaded once, answered by every replica."""

from __future__ import annotations

import hashlib
import time

import anyio
import pytest

from runapi_mcp.core.errors import CoreError
from runapi_mcp.core.jobs import ImageJob
from runapi_mcp.core.previews_store import PreviewStore
from runapi_mcp.core.types import JobOutcome
from tests.hosted.conftest import Replica, Rig, no_progress

pytestmark = pytest.mark.anyio


async def _create(replica: Replica, prompt: str, *, wait: bool = False) -> str:
    job = ImageJob(action="text_to_image", prompt=prompt, wait=wait)
    outcome = await replica.service.run(job, replica.workspace, no_progress)
    task_id = outcome.tasks[0].task_id
    assert task_id is not None
    return task_id


async def _get(replica: Replica, task_id: str) -> JobOutcome:
    return await replica.service.get_task(task_id, wait=True, workspace=replica.workspace, progress=no_progress)


async def test_three_replicas_finishing_one_task_together_download_its_image_once(rig: Rig) -> None:
    replicas = [rig.make(f"r{i}") for i in range(3)]
    task_id = await _create(replicas[0], "a lighthouse")
    answers: dict[int, JobOutcome] = {}

    async def follow(i: int) -> None:
        answers[i] = await _get(replicas[i], task_id)

    async with anyio.create_task_group() as group:
        for i in range(3):
            group.start_soon(follow, i)
    assert list(rig.downloads.values()) == [1], rig.downloads
    for outcome in answers.values():
        (image,) = outcome.tasks[0].images
        assert outcome.tasks[0].status == "completed" and outcome.hosted
        assert image.path is None and image.url and image.url_expires_at
        assert image.record.sha256 and image.size_bytes and image.content_type == "image/png"
        assert image.preview is not None and image.preview.mime_type == "image/jpeg"
    assert len({a.tasks[0].images[0].record.sha256 for a in answers.values()}) == 1


async def test_a_completed_task_is_answered_by_another_replica_without_downloading_or_asking_runapi(rig: Rig) -> None:
    maker, other = rig.make("maker"), rig.make("other")
    task_id = await _create(maker, "made on one", wait=True)
    assert sum(rig.downloads.values()) == 1
    for _ in range(5):
        answer = await _get(other, task_id)
        (image,) = answer.tasks[0].images
        assert answer.tasks[0].status == "completed" and image.preview is not None and image.path is None
    assert sum(rig.downloads.values()) == 1
    assert other.requests == []  # the shared row and store answered: nothing asked of RunAPI or its file host


async def test_every_replica_reads_the_same_image_bytes_from_the_store(rig: Rig) -> None:
    maker, other = rig.make("maker"), rig.make("other")
    task_id = await _create(maker, "read me", wait=True)
    first = await maker.service.image_bytes(task_id, 0)
    second = await other.service.image_bytes(task_id, 0)
    assert first == second and first.startswith(b"\x89PNG")
    row = await other.journal.get(task_id)
    assert row is not None and row.images[0].sha256 == hashlib.sha256(first).hexdigest()
    assert sum(rig.downloads.values()) == 1


async def test_an_image_not_in_the_store_streams_from_its_url_and_an_expired_url_says_so(rig: Rig) -> None:
    maker = rig.make("maker")
    task_id = await _create(maker, "stream me", wait=True)
    await PreviewStore(maker.journal).forget([task_id])  # as if the bytes were too big to keep
    streamed = await maker.service.image_bytes(task_id, 0)
    assert streamed.startswith(b"\x89PNG") and sum(rig.downloads.values()) == 2
    row = await maker.journal.get(task_id)
    assert row is not None
    expired = row.images[0].model_copy(update={"url_expires_at": "2020-01-01T00:00:00Z"})
    await maker.journal.update(task_id, images=[expired])
    with pytest.raises(CoreError, match="expired at 2020-01-01T00:00:00Z"):
        await maker.service.image_bytes(task_id, 0)


async def test_a_task_reference_works_on_a_replica_that_did_not_make_the_task(rig: Rig) -> None:
    maker, other = rig.make("maker"), rig.make("other")
    task_id = await _create(maker, "source", wait=True)
    job = ImageJob(action="edit_image", prompt="at night", images=(f"task:{task_id}",))
    outcome = await other.service.run(job, other.workspace, no_progress)
    assert outcome.tasks[0].status == "completed", outcome.tasks[0].error
    row = await other.journal.get(outcome.tasks[0].task_id or "")
    assert row is not None and row.params.sources[0].url == (await maker.journal.get(task_id)).images[0].url  # pyright: ignore[reportOptionalMemberAccess]


async def test_a_stale_claim_of_a_replica_that_died_mid_download_is_taken_over(rig: Rig) -> None:
    store = PreviewStore(rig.make("dead").journal)
    now = time.time()
    assert await store.claim("task-x", 0, "o", now=now - 1000, stale_before=now - 1000)
    assert not await store.claim("task-x", 0, "o", now=now, stale_before=now - 2000)  # still fresh
    assert await store.claim("task-x", 0, "o", now=now, stale_before=now - 10)  # stale: taken over
    await store.release("task-x", 0)
    assert await store.claim("task-x", 0, "o", now=now, stale_before=now - 10)  # released: free again
