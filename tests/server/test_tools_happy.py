"""Every tool on its happy path, through an in-memory MCP client against the sandbox over loopback."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import BlobResourceContents, CallToolResult, ImageContent, ResourceLink, TextResourceContents, Tool
from PIL import Image

from tests.support.in_memory import ClientFactory
from tests.support.mcp_http import text_of

pytestmark = pytest.mark.anyio


SIX_TOOLS = {"generate_image", "edit_image", "get_task", "list_tasks", "get_pricing", "get_balance"}


async def listed_tools(connect: ClientFactory) -> tuple[dict[str, Tool], str]:
    """The tools a fresh server lists, by name, and its instructions."""
    async with connect() as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        return tools, client.instructions or ""


async def test_tool_list_has_the_six_tools(connect: ClientFactory) -> None:
    tools, _ = await listed_tools(connect)
    assert set(tools) == SIX_TOOLS


async def test_generate_schema_enumerates_ratios_resolutions_and_caps_count(connect: ClientFactory) -> None:
    tools, _ = await listed_tools(connect)
    gen = tools["generate_image"].input_schema["properties"]
    ratio_enum = gen["aspect_ratio"]["enum"]
    assert "16:9" in ratio_enum and "21:9" in ratio_enum and len(ratio_enum) == 16
    assert gen["output_resolution"]["enum"] == ["1k", "2k", "4k"]
    assert gen["count"]["maximum"] == 4


async def test_every_tool_has_a_title_description_and_annotations(connect: ClientFactory) -> None:
    tools, _ = await listed_tools(connect)
    for tool in tools.values():
        assert tool.title and tool.description and tool.annotations is not None


async def test_list_tasks_is_read_only_and_closed_world(connect: ClientFactory) -> None:
    tools, _ = await listed_tools(connect)
    annotations = tools["list_tasks"].annotations
    assert annotations is not None
    assert annotations.read_only_hint is True and annotations.open_world_hint is False


async def test_generate_is_marked_not_read_only_not_destructive_with_an_output_schema(connect: ClientFactory) -> None:
    tools, _ = await listed_tools(connect)
    annotations = tools["generate_image"].annotations
    assert annotations is not None
    # Left out means the protocol default (not read-only); paid tools must say they are not destructive.
    assert not annotations.read_only_hint
    assert annotations.destructive_hint is False
    assert tools["generate_image"].output_schema is not None  # the SDK's own client: see test_result_shape_and_tokens


async def test_instructions_introduce_the_server(connect: ClientFactory) -> None:
    _, instructions = await listed_tools(connect)
    assert instructions.startswith("GPT Image 2 via RunAPI")


FOX = {"prompt": "a red fox", "aspect_ratio": "16:9", "output_resolution": "1k"}


async def generate_fox(client: Client) -> tuple[CallToolResult, dict[str, Any]]:
    """A 16:9 1k generate that must succeed; returns the result and its one task."""
    result = await client.call_tool("generate_image", FOX)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result, result.structured_content["tasks"][0]


async def test_generate_with_wait_saves_a_png_of_the_requested_size_in_the_project(
    connect: ClientFactory, tmp_path: Path
) -> None:
    async with connect() as client:
        _, task = await generate_fox(client)
    assert task["status"] == "completed" and task["task_id"]
    path = Path(task["images"][0]["path"])
    assert path.parent == tmp_path / "project" / "runapi-images"
    with Image.open(path) as png:
        assert png.format == "PNG"
        width, height = png.size
    assert abs(width / height - 16 / 9) < 0.02 and max(width, height) in range(960, 1100)


async def test_generate_writes_a_sidecar_with_the_task_and_prompt(connect: ClientFactory) -> None:
    async with connect() as client:
        _, task = await generate_fox(client)
    path = Path(task["images"][0]["path"])
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["task_id"] == task["task_id"] and sidecar["prompt"] == "a red fox"


async def test_generate_text_names_the_task_the_file_the_url_and_the_cost(connect: ClientFactory) -> None:
    async with connect() as client:
        result, task = await generate_fox(client)
    text = text_of(result)
    assert task["task_id"] in text and "runapi-images/" in text and task["images"][0]["url"] in text
    assert "Cost: $0.06" in text


async def test_generate_returns_one_512px_jpeg_preview(connect: ClientFactory) -> None:
    async with connect() as client:
        result, _ = await generate_fox(client)
    previews = [c for c in result.content if isinstance(c, ImageContent)]
    assert len(previews) == 1
    preview = Image.open(io.BytesIO(base64.b64decode(previews[0].data)))
    assert max(preview.size) == 512 and preview.format == "JPEG"


async def test_generate_links_the_image_resource_which_reads_back_the_saved_file(connect: ClientFactory) -> None:
    async with connect() as client:
        result, task = await generate_fox(client)
        links = [c for c in result.content if isinstance(c, ResourceLink)]
        image_uri = f"runapi://tasks/{task['task_id']}/images/0"
        read = await client.read_resource(image_uri)
    assert [str(link.uri) for link in links] == [image_uri]
    blob = read.contents[0]
    assert isinstance(blob, BlobResourceContents)
    assert base64.b64decode(blob.blob) == Path(task["images"][0]["path"]).read_bytes()


async def test_task_resource_reads_the_completed_task_as_json(connect: ClientFactory) -> None:
    async with connect() as client:
        _, task = await generate_fox(client)
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
    """wait=false returns the task id at once; get_task then completes the same task and saves its image."""
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
