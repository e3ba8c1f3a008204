"""The gallery's one journal adapter: typed rows become cards; tenants' rows and images never mix in."""

from __future__ import annotations

from runapi_mcp.core.journal import ImageRecord, TaskParams, TaskRow
from runapi_mcp.gallery import records


def row(**changes: object) -> TaskRow:
    base = TaskRow(
        owner="",
        idempotency_key="k",
        task_id="t1",
        action="text_to_image",
        params=TaskParams(prompt="a fox"),
        output_dir=None,
        status="completed",
        created_at=5.0,
        updated_at=5.0,
        cost_cents=6.0,
        images=(
            ImageRecord(index=0, path="/p/a.png", width=1024, height=768, size_bytes=9, url_expires_at="t"),
            ImageRecord(index=1, path=None),
        ),
    )
    return base.model_copy(update=changes)


def test_every_image_of_a_row_is_a_card_with_the_row_facts() -> None:
    first, second = records._items_of(row())  # pyright: ignore[reportPrivateUsage]
    assert (first.prompt, first.width, first.height, first.cost_cents, first.reference) == (
        "a fox",
        1024,
        768,
        6.0,
        "task:t1",
    )
    assert second.index == 1 and second.path is None and second.reference == "task:t1#1"


def test_a_task_without_images_is_one_card_that_says_pending_until_it_is_final() -> None:
    (item,) = records._items_of(row(images=(), status="processing"))  # pyright: ignore[reportPrivateUsage]
    assert item.pending and item.index is None
    (failed,) = records._items_of(row(images=(), status="failed"))  # pyright: ignore[reportPrivateUsage]
    assert not failed.pending
