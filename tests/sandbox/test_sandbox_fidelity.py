"""Placeholder fidelity: CJK prompts drawn as text, edits tile clean sources and keep their shape."""

from __future__ import annotations

import base64
import os

import httpx2
import pytest
from PIL import Image

from runapi_mcp.sandbox import fonts, image_size, running_sandbox
from runapi_mcp.sandbox.fonts import CJK_MISSING_NOTE, cjk_font_path, font_for
from runapi_mcp.sandbox.render import RenderSpec, _prompt_panel, nearest_ratio, render_png  # pyright: ignore[reportPrivateUsage]
from runapi_mcp.sandbox.text_layout import wrap
from tests.sandbox.helpers import BODY, EDIT, FAST, client_for, create, open_png, solid_png, wait_done

CHINESE = "一只戴着红色围巾的橘猫坐在雪地里"


def needs_cjk_font() -> None:
    if cjk_font_path() is None:
        if os.environ.get("CI"):
            pytest.fail("no CJK font found: .ci/run installs fonts-wqy-microhei")
        pytest.skip("no CJK font on this machine (apt-get install fonts-wqy-microhei)")


def panel(prompt: str) -> bytes:
    canvas = Image.new("RGB", (1024, 576), (90, 120, 150))
    _prompt_panel(canvas, prompt)
    return canvas.tobytes()


def test_cjk_prompts_are_drawn_as_their_own_glyphs_not_identical_boxes() -> None:
    needs_cjk_font()
    # Missing glyphs all draw as the same box, so two different strings would give identical pixels.
    assert panel("猫猫猫猫") != panel("狗狗狗狗")
    font, text = font_for(CHINESE, 32)
    assert text == CHINESE and font.getlength("猫") > 0
    image = open_png(render_png(RenderSpec("text_to_image", CHINESE, "16:9", "1k")))
    assert image.size == (1024, 576)


def test_long_cjk_text_wraps_between_characters() -> None:
    needs_cjk_font()
    font, _ = font_for(CHINESE, 40)
    lines = wrap(CHINESE * 3, font, 400, max_lines=4)
    assert len(lines) == 4 and all(font.getlength(line) <= 400 for line in lines)
    assert lines[0] == (CHINESE * 3)[: len(lines[0])]
    mixed = wrap("a cat 猫 on snow 雪地", font, 2000, max_lines=4)
    assert mixed == ["a cat 猫 on snow 雪地"]


def test_without_a_cjk_font_the_prompt_says_so_instead_of_drawing_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "cjk_font_path", lambda: None)
    _, text = font_for("猫 on snow 雪地", 20)
    assert text.startswith(CJK_MISSING_NOTE) and "猫" not in text and "on snow" in text
    assert panel("猫猫猫猫") == panel("狗狗狗狗")  # both the note, neither a row of boxes
    assert panel("猫猫猫猫") != panel("cat")


@pytest.mark.parametrize(
    ("size", "ratio"), [((1920, 1080), "16:9"), ((300, 200), "3:2"), ((200, 300), "2:3"), ((1000, 990), "1:1")]
)
def test_nearest_ratio(size: tuple[int, int], ratio: str) -> None:
    assert nearest_ratio(size) == ratio


def badge_red_pixels(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    raw = image.crop(box).tobytes()
    return sum(1 for r, g, b in zip(raw[0::3], raw[1::3], raw[2::3], strict=True) if r > 180 and g < 60 and b < 60)


async def output(client: httpx2.AsyncClient, body: dict[str, object], path: str) -> tuple[str, bytes]:
    done = await wait_done(client, (await create(client, body, path=path)).json()["id"], path=path)
    assert done["status"] == "completed", done
    url = done["images"][0]["url"]
    return url, (await client.get(url)).content


@pytest.mark.anyio
@pytest.mark.timeout(60)
@pytest.mark.parametrize("by", ["url", "uploaded bytes"])
async def test_an_edit_of_an_earlier_output_shows_none_of_its_caption_badge_or_footer(by: str) -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        url, data = await output(client, {**BODY, "aspect_ratio": "1:1"}, "/api/v1/gpt_image_2/text_to_image")
        assert badge_red_pixels(open_png(data), (0, 0, 256, 128)) > 1000  # the source has its badge
        source = url if by == "url" else "data:image/png;base64," + base64.b64encode(data).decode()
        body = {"model": "gpt-image-2", "prompt": "two", "aspect_ratio": "16:9", "source_image_urls": [source, source]}
        _, edited = await output(client, body, EDIT)
        image = open_png(edited)
        assert image.size == (1024, 576)
        assert badge_red_pixels(image, (0, 0, 256, 80)) > 500  # the edit's own badge
        assert badge_red_pixels(image, (512, 0, 768, 80)) == 0  # none in the second tile: the source came clean


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_an_edit_without_aspect_ratio_keeps_its_first_sources_shape() -> None:
    async with running_sandbox(FAST) as sandbox, client_for(sandbox) as client:
        wide, _ = await output(client, {**BODY, "aspect_ratio": "16:9"}, "/api/v1/gpt_image_2/text_to_image")
        tall = "data:image/png;base64," + base64.b64encode(solid_png((10, 200, 10), (200, 300))).decode()
        cases = [
            ({"source_image_urls": [wide]}, image_size("16:9", "1k")),
            ({"source_image_urls": [tall, wide]}, image_size("2:3", "1k")),
            (
                {"source_image_urls": [wide], "aspect_ratio": "auto", "output_resolution": "2k"},
                image_size("16:9", "2k"),
            ),
            ({"source_image_urls": [wide], "aspect_ratio": "1:1"}, (1024, 1024)),  # an explicit ratio wins
            ({"source_image_urls": ["https://example.com/a.png"]}, (1024, 1024)),  # shape unknown: square
        ]
        for extra, size in cases:
            _, data = await output(client, {"model": "gpt-image-2", "prompt": "keep it", **extra}, EDIT)
            assert open_png(data).size == size, extra
