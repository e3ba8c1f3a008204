"""Small JPEG previews the model can look at: a result stays a few thousand tokens, not megabytes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from runapi_mcp.core.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_MAX_SIDE = 512
_ORIENTATION = 0x0112  # the EXIF tag that says how the camera was turned
DEFAULT_QUALITY = 80


@dataclass(frozen=True)
class Preview:
    data: bytes
    mime_type: str
    width: int
    height: int


def make_preview(image: bytes | Path, max_side: int = DEFAULT_MAX_SIDE, quality: int = DEFAULT_QUALITY) -> Preview:
    """A JPEG whose longest side is at most `max_side` (never enlarged), upright per EXIF, transparency on white.

    `image` is the encoded image, or the path of an image file (read by Pillow, lazily).
    Blocking: use `make_preview_async` from async code.
    """
    if max_side < 1:
        raise ValueError("max_side must be at least 1; previews that are off should not be made at all")
    if not 1 <= quality <= 95:
        raise ValueError("quality must be between 1 and 95")
    from PIL import Image, ImageOps, UnidentifiedImageError  # lazily: start-up time matters (imaging.py)

    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as im:
            if im.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: far less work for a 4k source. The box is
                # square so EXIF rotation later cannot leave it too small on either side.
                im.draft("RGB", (max_side, max_side))
            # exif_transpose copies the whole decoded image even when there is nothing to turn (tens of ms at 4k).
            upright = ImageOps.exif_transpose(im) if im.getexif().get(_ORIENTATION, 1) != 1 else im
            # reducing_gap=1.0: shrink by whole factors with reduce(), then resample only the small remainder.
            upright.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=1.0)
            flat = _flatten(upright)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"Cannot make a preview: the data is not a readable image ({exc}).") from None
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=quality)
    return Preview(out.getvalue(), "image/jpeg", flat.width, flat.height)


async def make_preview_async(
    image: bytes | Path, max_side: int = DEFAULT_MAX_SIDE, quality: int = DEFAULT_QUALITY
) -> Preview:
    return await anyio.to_thread.run_sync(partial(make_preview, image, max_side, quality))


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header, without decoding; None when the data is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        return None


def _flatten(im: Image.Image) -> Image.Image:
    """RGB or L, with any transparency composited on white (JPEG has no alpha)."""
    from PIL import Image

    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im if im.mode in ("RGB", "L") else im.convert("RGB")
