"""The gallery's one journal adapter reads rows whose fields are dicts (today) or models (typed rows) alike."""

from __future__ import annotations

from pydantic import BaseModel

from runapi_mcp.gallery import records


class Params(BaseModel):
    prompt: str


class Image(BaseModel):
    index: int
    path: str | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    url_expires_at: str | None = None


class Row(BaseModel):
    owner: str
    task_id: str | None
    action: str
    params: Params
    status: str
    created_at: float
    images: tuple[Image, ...] = ()
    error: str | None = None
    cost_cents: float | None = None


def test_typed_rows_and_dict_rows_give_the_same_items() -> None:
    image = {"index": 0, "path": "/p/a.png", "width": 1024, "height": 768, "size_bytes": 9, "url_expires_at": "t"}
    typed = Row(
        owner="",
        task_id="t1",
        action="text_to_image",
        params=Params(prompt="a fox"),
        status="completed",
        created_at=5.0,
        images=(Image(**image),),
        cost_cents=6.0,
    )
    as_dicts = typed.model_dump()
    as_dicts["params"], as_dicts["images"] = {"prompt": "a fox"}, [image]
    assert records._items_of(typed) == records._items_of(as_dicts)  # pyright: ignore[reportPrivateUsage]
    (item,) = records._items_of(typed)  # pyright: ignore[reportPrivateUsage]
    assert (item.prompt, item.width, item.height, item.cost_cents, item.reference) == (
        "a fox",
        1024,
        768,
        6.0,
        "task:t1",
    )


def test_a_tenant_row_is_not_shown_and_a_task_without_images_is_one_pending_item() -> None:
    tenant = Row(
        owner="3f9a",
        task_id="t2",
        action="text_to_image",
        params=Params(prompt="x"),
        status="completed",
        created_at=1.0,
    )
    assert records._items_of(tenant) == []  # pyright: ignore[reportPrivateUsage]
    pending = tenant.model_copy(update={"owner": "", "status": "processing"})
    (item,) = records._items_of(pending)  # pyright: ignore[reportPrivateUsage]
    assert item.pending and item.index is None and item.path is None
