"""Every tool on its happy path, through an in-memory MCP client against the sandbox over loopback."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from mcp.types import BlobResourceContents, ImageContent, ResourceLink, TextResourceContents
from PIL import Image

from tests.server.helpers import ClientFactory, text_of

pytestmark = pytest.mark.anyio


async def test_tool_list_has_six_tools_with_enums_titles_and_annotations(
    connect: ClientFactory,
) -> None:
    async with connect() as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        instructions = client.instructions or ""
    assert set(tools) == {"generate_image", "edit_image", "get_task", "list_tasks", "get_pricing", "get_balance"}
    gen = tools["generate_image"].input_schema["properties"]
    ratio_enum = gen["aspect_ratio"]["enum"]
    assert "16:9" in ratio_enum and "21:9" in ratio_enum and len(ratio_enum) == 16
    assert gen["output_resolution"]["enum"] == ["1k", "2k", "4k"]
    assert gen["count"]["maximum"] == 4
    for tool in tools.values():
        assert tool.title and tool.description and tool.annotations is not None
    assert tools["list_tasks"].annotations.read_only_hint is True
    assert tools["list_tasks"].annotations.open_world_hint is False
    # Left out means the protocol default (not read-only); paid tools must say they are not destructive.
    assert not tools["generate_image"].annotations.read_only_hint
    assert tools["generate_image"].annotations.destructive_hint is False
    assert tools["generate_image"].output_schema is not None  # the SDK's own client: see test_result_shape_and_tokens
    assert instructions.startswith("GPT Image 2 via RunAPI")


async def test_generate_with_wait_saves_png_of_requested_size_with_preview_link_and_structured_content(
    connect: ClientFactory, tmp_path: Path
) -> None:
    async with connect() as client:
        result = await client.call_tool(
            "generate_image", {"prompt": "a red fox", "aspect_ratio": "16:9", "output_resolution": "1k"}
        )
        assert not result.is_error, text_of(result)
        data = result.structured_content
        assert data is not None
        task = data["tasks"][0]
        assert task["status"] == "completed" and task["task_id"]
        image = task["images"][0]
        path = Path(image["path"])
        assert path.parent == tmp_path / "project" / "runapi-images"
        with Image.open(path) as png:
            assert png.format == "PNG"
            width, height = png.size
        assert abs(width / height - 16 / 9) < 0.02 and max(width, height) in range(960, 1100)
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        assert sidecar["task_id"] == task["task_id"] and sidecar["prompt"] == "a red fox"
        text = text_of(result)
        assert task["task_id"] in text and "runapi-images/" in text and image["url"] in text
        assert "Cost: $0.06" in text
        previews = [c for c in result.content if isinstance(c, ImageContent)]
        assert len(previews) == 1
        preview = Image.open(io.BytesIO(base64.b64decode(previews[0].data)))
        assert max(preview.size) == 512 and preview.format == "JPEG"
        links = [c for c in result.content if isinstance(c, ResourceLink)]
        image_uri = f"runapi://tasks/{task['task_id']}/images/0"
        assert [str(link.uri) for link in links] == [image_uri]
        read = await client.read_resource(image_uri)
        blob = read.contents[0]
        assert isinstance(blob, BlobResourceContents)
        assert base64.b64decode(blob.blob) == path.read_bytes()
        task_json = await client.read_resource(f"runapi://tasks/{task['task_id']}")
        assert isinstance(task_json.contents[0], TextResourceContents)
        assert json.loads(task_json.contents[0].text)["status"] == "completed"


async def test_generate_count_four_makes_four_tasks_and_four_files(connect: ClientFactory) -> None:
    async with connect() as client:
        result = await client.call_tool("generate_image", {"prompt": "tiles", "count": 4})
    assert not result.is_error, text_of(result)
    tasks = result.structured_content["tasks"]
    assert len({t["task_id"] for t in tasks}) == 4
    assert all(t["status"] == "completed" and Path(t["images"][0]["path"]).is_file() for t in tasks)
    assert len([c for c in result.content if isinstance(c, ImageContent)]) == 4


async def test_generate_without_wait_returns_task_id_then_get_task_completes_and_downloads(
    connect: ClientFactory,
) -> None:
    async with connect() as client:
        started = await client.call_tool("generate_image", {"prompt": "later", "wait": False})
        task = started.structured_content["tasks"][0]
        assert task["status"] == "pending" and task["next_action"] == "get_task"
        assert f"get_task with task_id '{task['task_id']}'" in text_of(started)
        done = await client.call_tool("get_task", {"task_id": task["task_id"], "wait": True})
    assert not done.is_error, text_of(done)
    finished = done.structured_content["tasks"][0]
    assert finished["status"] == "completed" and Path(finished["images"][0]["path"]).is_file()


async def test_edit_with_local_png_and_with_task_reference_both_complete(
    connect: ClientFactory, tmp_path: Path
) -> None:
    async with connect() as client:
        Image.new("RGB", (64, 64), (0, 200, 0)).save(tmp_path / "project" / "logo.png")
        local = await client.call_tool("edit_image", {"prompt": "make it shine", "images": ["logo.png"]})
        assert not local.is_error, text_of(local)
        task_id = local.structured_content["tasks"][0]["task_id"]
        chained = await client.call_tool("edit_image", {"prompt": "add stars", "images": [f"task:{task_id}"]})
    assert not chained.is_error, text_of(chained)
    assert chained.structured_content["tasks"][0]["status"] == "completed"


async def test_list_tasks_pricing_and_balance_answer_in_one_line_each(connect: ClientFactory) -> None:
    async with connect() as client:
        await client.call_tool("generate_image", {"prompt": "for the list"})
        listing = text_of(await client.call_tool("list_tasks", {"limit": 5}))
        pricing = text_of(await client.call_tool("get_pricing", {"output_resolution": "4k", "count": 3}))
        balance = text_of(await client.call_tool("get_balance", {}))
    assert "for the list" in listing and "completed" in listing
    assert "$0.48" in pricing and "4k $0.16" in pricing
    assert balance.startswith("Balance $")


async def test_get_task_without_wait_answers_at_once_and_completes_once_the_task_is_done(
    connect: ClientFactory,
) -> None:
    async with connect() as client:
        started = await client.call_tool("generate_image", {"prompt": "no wait", "wait": False})
        task_id = started.structured_content["tasks"][0]["task_id"]
        statuses = []
        for _ in range(100):
            result = await client.call_tool("get_task", {"task_id": task_id})
            statuses.append(result.structured_content["tasks"][0]["status"])
            if statuses[-1] == "completed":
                break
    assert statuses[-1] == "completed"
    assert Path(result.structured_content["tasks"][0]["images"][0]["path"]).is_file()


async def test_structured_output_and_previews_can_be_switched_off(connect: ClientFactory) -> None:
    async with connect(RUNAPI_MCP_STRUCTURED_OUTPUT="false", RUNAPI_MCP_PREVIEW="off") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("generate_image", {"prompt": "plain"})
    assert tools["generate_image"].output_schema is None
    assert result.structured_content is None
    assert not [c for c in result.content if isinstance(c, ImageContent)]
    assert "saved to runapi-images/" in text_of(result)


async def test_preview_size_setting_bounds_the_preview(connect: ClientFactory) -> None:
    async with connect(RUNAPI_MCP_PREVIEW="256") as client:
        result = await client.call_tool("generate_image", {"prompt": "small preview", "aspect_ratio": "21:9"})
    (preview,) = [c for c in result.content if isinstance(c, ImageContent)]
    assert max(Image.open(io.BytesIO(base64.b64decode(preview.data))).size) == 256
