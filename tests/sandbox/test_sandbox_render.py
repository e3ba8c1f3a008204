"""The placeholder renderer: sizes per ratio and resolution, determinism, speed."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import pytest

from runapi_mcp.runapi.models import ASPECT_RATIOS, OUTPUT_RESOLUTIONS
from runapi_mcp.sandbox import image_size
from runapi_mcp.sandbox.render import RenderSpec, SourceTile, render_png
from runapi_mcp.sandbox.render_cache import RenderCache
from tests.sandbox.helpers import open_png, solid_png


@pytest.mark.parametrize(
    ("ratio", "resolution", "size"),
    [
        ("1:1", "1k", (1024, 1024)),
        ("16:9", "1k", (1024, 576)),
        ("16:9", "4k", (3840, 2160)),
        ("9:16", "2k", (1152, 2048)),
        ("3:2", "4k", (3840, 2560)),
        ("21:9", "1k", (1024, 432)),
        ("1:3", "1k", (336, 1024)),
        ("auto", "2k", (2048, 2048)),
        (None, None, (1024, 1024)),
    ],
)
def test_image_size_follows_ratio_and_resolution(
    ratio: str | None, resolution: str | None, size: tuple[int, int]
) -> None:
    assert image_size(ratio, resolution) == size


@pytest.mark.parametrize("resolution", OUTPUT_RESOLUTIONS)
@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_every_size_is_a_multiple_of_16_with_the_resolutions_long_side(ratio: str, resolution: str) -> None:
    width, height = image_size(ratio, resolution)
    assert width % 16 == 0 and height % 16 == 0
    assert max(width, height) == {"1k": 1024, "2k": 2048, "4k": 3840}[resolution]
    if ratio != "auto":
        across, down = (int(part) for part in ratio.split(":"))
        assert abs(width / height - across / down) < 0.05


def test_a_4k_render_takes_well_under_a_second() -> None:
    spec = RenderSpec("text_to_image", "a very detailed city " * 50, "16:9", "4k")
    started = time.perf_counter()
    data = render_png(spec)
    assert time.perf_counter() - started < 1.0
    assert open_png(data).size == (3840, 2160)


def test_render_is_deterministic_and_depends_on_the_prompt() -> None:
    spec = RenderSpec("text_to_image", "a fox", "4:3", "1k")
    assert render_png(spec) == render_png(spec)
    assert render_png(spec) != render_png(RenderSpec("text_to_image", "a hen", "4:3", "1k"))


def test_an_edit_fills_its_canvas_with_the_source_and_an_unreadable_source_is_a_grey_tile() -> None:
    green = render_png(RenderSpec("edit_image", "x", "1:1", "1k", (SourceTile(solid_png((0, 255, 0)), "g"),)))
    assert open_png(green).getpixel((512, 512)) == (0, 255, 0)
    junk = open_png(render_png(RenderSpec("edit_image", "x", "1:1", "1k", (SourceTile(b"not an image", "j"),))))
    grey = junk.getpixel((700, 300))
    assert isinstance(grey, tuple)
    assert grey[0] == grey[1] == grey[2]


def test_sixteen_sources_each_get_a_tile() -> None:
    colours = [(i * 15, 255 - i * 15, 128) for i in range(16)]
    sources = tuple(SourceTile(solid_png(colour), str(i)) for i, colour in enumerate(colours))
    image = open_png(render_png(RenderSpec("edit_image", "grid", "1:1", "1k", sources)))
    centres = [(128 + (i % 4) * 256, 128 + (i // 4) * 256) for i in range(16)]
    seen = {image.getpixel(point) for point in centres[4:12]}  # middle rows: clear of the badge and the prompt
    assert seen == set(colours[4:12])


@pytest.mark.anyio
async def test_render_cache_builds_once_for_concurrent_requests_and_evicts_the_oldest() -> None:
    cache = RenderCache(max_items=2)
    builds: list[str] = []

    def builder(key: str) -> Callable[[], Awaitable[bytes]]:
        async def build() -> bytes:
            builds.append(key)
            await anyio.sleep(0.01)
            return key.encode()

        return build

    results: list[bytes] = []

    async def fetch(key: str) -> None:
        results.append(await cache.get(key, builder(key)))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(fetch, "a")
    assert results == [b"a"] * 5
    assert builds == ["a"]
    await cache.get("b", builder("b"))
    await cache.get("c", builder("c"))
    await cache.get("a", builder("a"))
    assert builds == ["a", "b", "c", "a"]
