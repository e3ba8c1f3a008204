"""The journal keeps every intent and task, across journal objects and tenants: the same on both engines."""

from __future__ import annotations

import base64
import hashlib
import logging

import anyio
import pytest

from runapi_mcp.core.errors import JournalError
from runapi_mcp.core.journal import (
    INTENT_STATE,
    LOCAL_OWNER,
    ImageRecord,
    Journal,
    SourceRef,
    TaskParams,
    stored_reference,
)
from tests.journal.conftest import Clock, OpenJournal

TASK = "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14"
pytestmark = pytest.mark.anyio


async def intent(journal: Journal, key: str, owner: str | None = None, prompt: str = "p") -> None:
    await journal.record_intent(
        idempotency_key=key, action="text_to_image", params=TaskParams(prompt=prompt), output_dir="/out", owner=owner
    )


async def test_intent_is_recorded_with_typed_params_before_any_task_id(journal: Journal, clock: Clock) -> None:
    params = TaskParams(
        prompt="a fox", aspect_ratio="3:2", sources=(SourceRef(reference="a.png", url="https://t/a", sha256="ab"),)
    )
    row = await journal.record_intent(idempotency_key="k1", action="edit_image", params=params, output_dir="/o")
    assert (row.idempotency_key, row.action, row.params, row.owner) == ("k1", "edit_image", params, LOCAL_OWNER)
    assert (row.task_id, row.status, row.output_dir) == (None, INTENT_STATE, "/o")
    assert (row.images, row.error, row.cost_cents) == ((), None, None)
    assert row.created_at == row.updated_at == clock.now
    assert await journal.get_by_key("k1") == row


async def test_same_key_returns_the_existing_intent_unchanged(journal: Journal, clock: Clock) -> None:
    first = await journal.record_intent(
        idempotency_key="k", action="text_to_image", params=TaskParams(prompt="a"), output_dir="/a"
    )
    clock.tick()
    again = await journal.record_intent(
        idempotency_key="k", action="text_to_image", params=TaskParams(prompt="b"), output_dir="/b"
    )
    assert again == first
    assert len(await journal.recent()) == 1


async def test_a_rejected_intent_sent_again_becomes_an_intent_again(journal: Journal) -> None:
    await intent(journal, "k")
    await journal.mark_intent("k", status="rejected", error="insufficient credits")
    again = await journal.record_intent(
        idempotency_key="k", action="text_to_image", params=TaskParams(prompt="p"), output_dir="/new"
    )
    assert (again.status, again.error, again.output_dir) == ("submitting", None, "/new")
    await journal.attach_task_id("k", TASK)
    assert (await journal.get_by_key("k")).status == "pending"  # type: ignore[union-attr]


async def test_attaching_the_task_id_makes_it_pending_and_findable(journal: Journal, clock: Clock) -> None:
    await intent(journal, "k")
    clock.tick()
    await journal.attach_task_id("k", TASK)
    row = await journal.get(TASK)
    assert row is not None
    assert (row.idempotency_key, row.task_id, row.status) == ("k", TASK, "pending")
    assert row.updated_at > row.created_at


async def test_attaching_twice_keeps_a_later_status(journal: Journal) -> None:
    await intent(journal, "k")
    await journal.attach_task_id("k", TASK)
    assert await journal.update(TASK, status="processing")
    await journal.attach_task_id("k", TASK)  # a replayed create answering again
    row = await journal.get(TASK)
    assert row is not None
    assert row.status == "processing"


async def test_attaching_to_an_unknown_key_is_an_error_not_a_silent_loss(journal: Journal) -> None:
    with pytest.raises(JournalError, match="record the intent first"):
        await journal.attach_task_id("never-recorded", TASK)


async def test_a_task_id_is_kept_under_one_key_only(journal: Journal) -> None:
    await intent(journal, "first")
    await journal.attach_task_id("first", TASK)
    await intent(journal, "second")
    with pytest.raises(JournalError, match="already in the task journal under another idempotency key"):
        await journal.attach_task_id("second", TASK)
    assert (await journal.get(TASK)).idempotency_key == "first"  # type: ignore[union-attr]
    assert (await journal.get_by_key("second")).task_id is None  # type: ignore[union-attr]


async def test_update_changes_only_the_fields_given_and_images_keep_their_content_type(journal: Journal) -> None:
    await intent(journal, "k")
    await journal.attach_task_id("k", TASK)
    images = (
        ImageRecord(
            index=0,
            url="https://cdn.example/a.png",
            path="/out/a.webp",
            width=1024,
            height=1024,
            size_bytes=5000,
            content_type="image/webp",
            sha256="ab" * 32,
        ),
    )
    assert await journal.update(TASK, status="completed", images=images, cost_cents=6.0)
    assert await journal.update(TASK, error="disk full while saving")
    row = await journal.get(TASK)
    assert row is not None
    assert (row.status, row.images, row.cost_cents, row.error) == ("completed", images, 6.0, "disk full while saving")
    assert row.images[0].content_type == "image/webp"


async def test_update_of_an_unknown_task_reports_false(journal: Journal) -> None:
    await intent(journal, "k")
    assert await journal.update("no-such-task", status="completed") is False


@pytest.mark.parametrize(
    ("path", "refused"),
    [(("completed",), "processing"), (("failed",), "completed"), (("processing",), "pending")],
)
async def test_a_status_change_the_state_machine_forbids_is_left_out_and_logged(
    journal: Journal, caplog: pytest.LogCaptureFixture, path: tuple[str, ...], refused: str
) -> None:
    await intent(journal, "k")
    await journal.attach_task_id("k", TASK)
    for state in path:
        assert await journal.update(TASK, status=state)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="runapi_mcp.core.journal"):
        assert await journal.update(TASK, status=refused, images=(ImageRecord(index=0),)) is False  # type: ignore[arg-type]
    row = await journal.get(TASK)
    assert row is not None
    assert (row.status, row.images) == (path[-1], ())
    assert f"a change to {refused} is not allowed" in caplog.text


async def test_a_lost_answer_is_marked_unknown_and_the_id_clears_it(journal: Journal) -> None:
    await intent(journal, "k")
    assert await journal.mark_intent("k", status="unknown", error="connection dropped")
    row = await journal.get_by_key("k")
    assert row is not None
    assert (row.status, row.error) == ("unknown", "connection dropped")
    await journal.attach_task_id("k", TASK)
    row = await journal.get(TASK)
    assert row is not None
    assert (row.status, row.error) == ("pending", None)


async def test_marking_an_intent_that_has_its_task_id_changes_nothing(journal: Journal) -> None:
    await intent(journal, "k")
    await journal.attach_task_id("k", TASK)
    assert await journal.mark_intent("k", status="unknown", error="late timeout") is False
    row = await journal.get(TASK)
    assert row is not None
    assert (row.status, row.error) == ("pending", None)


async def test_recent_is_newest_first_with_limit_and_status_filter(journal: Journal, clock: Clock) -> None:
    for i in range(5):
        await intent(journal, f"k{i}")
        await journal.attach_task_id(f"k{i}", f"task-{i}")
        if i % 2 == 0:
            await journal.update(f"task-{i}", status="completed")
        clock.tick()
    assert [e.idempotency_key for e in await journal.recent()] == ["k4", "k3", "k2", "k1", "k0"]
    assert [e.idempotency_key for e in await journal.recent(limit=2)] == ["k4", "k3"]
    assert [e.idempotency_key for e in await journal.recent(status="completed")] == ["k4", "k2", "k0"]
    assert [e.idempotency_key for e in await journal.recent(status="pending", limit=1)] == ["k3"]


async def test_rows_written_in_the_same_instant_keep_their_order(journal: Journal) -> None:
    for i in range(3):
        await intent(journal, f"k{i}")
    assert [e.idempotency_key for e in await journal.recent()] == ["k2", "k1", "k0"]


async def test_owner_filter_hides_other_tenants_tasks(journal: Journal) -> None:
    await intent(journal, "a-key", owner="tenant-a")
    await journal.attach_task_id("a-key", "task-a", owner="tenant-a")
    await intent(journal, "b-key", owner="tenant-b")
    await journal.attach_task_id("b-key", "task-b", owner="tenant-b")

    assert await journal.get("task-a", owner="tenant-b") is None
    found = await journal.get("task-a", owner="tenant-a")
    assert found is not None
    assert found.owner == "tenant-a"
    assert await journal.get_by_key("a-key", owner="tenant-b") is None
    assert await journal.get_by_key("a-key") is None  # the local owner is a namespace of its own
    assert [e.task_id for e in await journal.recent(owner="tenant-b")] == ["task-b"]
    assert {e.task_id for e in await journal.recent()} == {"task-a", "task-b"}  # no owner: every owner's rows


async def test_idempotency_keys_are_namespaced_per_owner(journal: Journal) -> None:
    await intent(journal, "shared-key", owner="tenant-a", prompt="tenant a's prompt")
    await intent(journal, "shared-key", owner="tenant-b", prompt="tenant b's prompt")
    await intent(journal, "shared-key", prompt="the local user's prompt")
    await journal.attach_task_id("shared-key", "task-b", owner="tenant-b")
    a, b = await journal.get_by_key("shared-key", owner="tenant-a"), await journal.get_by_key("shared-key", "tenant-b")
    local = await journal.get_by_key("shared-key")
    assert a is not None and b is not None and local is not None
    assert (a.params.prompt, a.task_id) == ("tenant a's prompt", None)
    assert (b.params.prompt, b.task_id) == ("tenant b's prompt", "task-b")
    assert (local.owner, local.params.prompt) == (LOCAL_OWNER, "the local user's prompt")


async def test_a_second_journal_object_sees_the_same_rows(open_store: OpenJournal) -> None:
    first, second = open_store(), open_store()
    await intent(first, "k")
    assert [e.idempotency_key for e in await second.recent()] == ["k"]
    await second.attach_task_id("k", TASK)
    assert (await first.get(TASK)) is not None


async def test_concurrent_writes_on_one_journal_all_land(journal: Journal) -> None:
    async def write(i: int) -> None:
        await intent(journal, f"k{i}")
        await journal.attach_task_id(f"k{i}", f"task-{i}")
        await journal.update(f"task-{i}", status="completed", images=(ImageRecord(index=0, path=f"/out/{i}.png"),))

    async with anyio.create_task_group() as group:
        for i in range(60):
            group.start_soon(write, i)
    done = await journal.recent(limit=100, status="completed")
    assert sorted(r.images[0].path or "" for r in done) == sorted(f"/out/{i}.png" for i in range(60))


async def test_two_journals_writing_at_once_lose_no_rows(open_store: OpenJournal) -> None:
    async def writer(journal: Journal, name: str) -> None:
        for i in range(40):
            await intent(journal, f"{name}-{i}")
            await journal.attach_task_id(f"{name}-{i}", f"task-{name}-{i}")

    async with anyio.create_task_group() as group:
        group.start_soon(writer, open_store(), "a")
        group.start_soon(writer, open_store(), "b")
    rows = await open_store().recent(limit=1000, status="pending")
    assert {r.idempotency_key for r in rows} == {f"{n}-{i}" for n in "ab" for i in range(40)}


async def test_a_closed_journal_refuses_work_with_a_journal_error(journal: Journal) -> None:
    await intent(journal, "k")
    await journal.close()
    await journal.close()  # twice is fine
    with pytest.raises(JournalError, match="closed"):
        await journal.recent()


def test_a_data_uri_is_kept_by_type_and_digest_never_its_payload() -> None:
    payload = b"\x89PNG\r\n\x1a\n" + b"x" * 1000
    uri = "data:image/png;base64," + base64.b64encode(payload).decode()
    kept = stored_reference(uri)
    assert kept == f"data:image/png;sha256={hashlib.sha256(payload).hexdigest()}"
    assert stored_reference("https://example.com/a.png") == "https://example.com/a.png"
    assert stored_reference("./in.png") == "./in.png"
