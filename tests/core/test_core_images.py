"""Previews are small upright JPEGs, transparency on white, never enlarged."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from runapi_mcp.core.errors import InputError
from runapi_mcp.core.images import Preview, image_size, make_preview, make_preview_async

ImageFactory = Callable[..., bytes]


def decode(preview: Preview) -> Image.Image:
    im = Image.open(io.BytesIO(preview.data))
    im.load()
    return im


def test_large_png_becomes_a_jpeg_with_the_longest_side_at_the_limit(make_image: ImageFactory) -> None:
    preview = make_preview(make_image("PNG", size=(2000, 1000)))
    im = decode(preview)
    assert (preview.mime_type, im.format) == ("image/jpeg", "JPEG")
    assert (preview.width, preview.height) == (512, 256) == im.size


def test_tall_image_is_limited_by_its_height(make_image: ImageFactory) -> None:
    preview = make_preview(make_image("WEBP", size=(600, 1800)), max_side=300)
    assert (preview.width, preview.height) == (100, 300)


def test_large_jpeg_is_reduced_to_the_limit(make_image: ImageFactory) -> None:
    preview = make_preview(make_image("JPEG", size=(4096, 3072)), max_side=384)
    assert (preview.width, preview.height) == (384, 288) == decode(preview).size


def test_small_image_is_never_enlarged(make_image: ImageFactory) -> None:
    preview = make_preview(make_image("PNG", size=(100, 50)))
    assert (preview.width, preview.height) == (100, 50)


def test_transparent_rgba_is_flattened_on_white(make_image: ImageFactory) -> None:
    preview = make_preview(make_image("PNG", size=(64, 64), mode="RGBA", color=(255, 0, 0, 0)))
    im = decode(preview)
    assert im.mode == "RGB"
    assert all(channel >= 250 for channel in im.getpixel((32, 32)))  # type: ignore[union-attr]


def test_palette_image_with_transparency_is_flattened_on_white() -> None:
    im = Image.new("P", (32, 32), 0)
    im.putpalette([0, 0, 0] * 256)
    out = io.BytesIO()
    im.save(out, format="GIF", transparency=0)
    flat = decode(make_preview(out.getvalue()))
    assert all(channel >= 250 for channel in flat.getpixel((5, 5)))  # type: ignore[union-attr]


def test_greyscale_with_alpha_is_flattened(make_image: ImageFactory) -> None:
    flat = decode(make_preview(make_image("PNG", mode="LA", color=(0, 0))))
    assert flat.getpixel((1, 1)) in (255, (255, 255, 255))


def test_cmyk_jpeg_becomes_rgb(make_image: ImageFactory) -> None:
    assert decode(make_preview(make_image("JPEG", mode="CMYK"))).mode == "RGB"


def test_exif_orientation_is_applied(make_image: ImageFactory) -> None:
    im = Image.new("RGB", (400, 200), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = io.BytesIO()
    im.save(out, format="JPEG", exif=exif)
    preview = make_preview(out.getvalue())
    assert (preview.width, preview.height) == (200, 400)


def test_preview_can_be_made_from_a_file(tmp_path: Path, make_image: ImageFactory) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(make_image("PNG", size=(1024, 1024)))
    assert make_preview(path, max_side=256).width == 256


def test_quality_changes_the_size(make_image: ImageFactory) -> None:
    noisy = Image.effect_noise((400, 400), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    assert len(make_preview(out.getvalue(), quality=30).data) < len(make_preview(out.getvalue(), quality=90).data)


def test_data_that_is_not_an_image_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not a readable image"):
        make_preview(b"<html>nope</html>")


def test_previews_that_are_off_are_a_caller_bug(make_image: ImageFactory) -> None:
    with pytest.raises(ValueError, match="max_side"):
        make_preview(make_image(), max_side=0)


@pytest.mark.anyio
async def test_async_preview_matches_the_sync_one(make_image: ImageFactory) -> None:
    data = make_image("PNG", size=(900, 300))
    assert await make_preview_async(data, 300) == make_preview(data, 300)


def test_image_size_reads_the_header(make_image: ImageFactory) -> None:
    assert image_size(make_image("JPEG", size=(123, 45))) == (123, 45)
    assert image_size(b"not an image") is None
