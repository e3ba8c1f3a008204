"""All Pillow work: is this really an image (decided by content, never by name or header), how big,
and the small JPEG previews the model can look at (a result stays a few thousand tokens, not megabytes).

Blocking (Pillow): call these in a worker thread from async code, or use the `_async` forms.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

import anyio

from runapi_mcp.core.decoding import DECODE_BUDGET_PIXELS, DECODES
from runapi_mcp.core.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

# Pillow format name -> MIME type. These are the formats RunAPI accepts as edit sources and returns.
ACCEPTED_FORMATS: dict[str, str] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
EXTENSIONS: dict[str, str] = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
# Above this many pixels an image is refused before decoding (Pillow's own decompression-bomb limit).
MAX_PIXELS: int = 89_478_485
# Above this many pixels (as decoded: a JPEG decodes at 1/8 scale for a preview) no preview is made; the
# image is still saved. Below it, the process-wide decode budget keeps huge previews one at a time.
PREVIEW_MAX_PIXELS: int = DECODE_BUDGET_PIXELS


class NotAnImageError(ValueError):
    """The data is not an accepted image; the message says what it is instead (for the caller's error)."""


class PreviewSkipped(InputError):
    """The image is fine but too many pixels to decode for a preview; the message says so, for the result."""


@dataclass(frozen=True)
class ImageFacts:
    format: str  # Pillow's name: PNG, JPEG, WEBP, GIF
    mime_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.mime_type]


def identify_image(source: bytes | Path | BinaryIO) -> ImageFacts:
    """Open and verify `source` (bytes, a file's path or an open file); raise NotAnImageError saying why."""
    # Imported here, not at the top: Pillow is only needed once there is an image, and every host
    # pays for the server's start-up imports.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            fmt = im.format or "unknown"
            width, height = im.size
            if fmt not in ACCEPTED_FORMATS:
                raise NotAnImageError(f"it is a {fmt} image; accepted formats are PNG, JPEG, WEBP and GIF")
            if width * height > MAX_PIXELS:
                raise NotAnImageError(f"it has too many pixels ({width}x{height})")
            if fmt == "PNG" and im.fp is not None:
                _verify_png(im.fp)  # what im.verify() checks, without reading a chunk whole into memory
            else:
                im.verify()
    except NotAnImageError:
        raise
    except UnidentifiedImageError:
        raise NotAnImageError("its content is not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise NotAnImageError("it has too many pixels") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # what Pillow raises for damaged files
        raise NotAnImageError(f"the image data is damaged ({exc})") from None
    return ImageFacts(fmt, ACCEPTED_FORMATS[fmt], width, height)


_PNG_VERIFY_BLOCK = 1024 * 1024


def _verify_png(fp: IO[bytes]) -> None:
    """Every chunk's CRC, through IEND, streamed in 1 MB blocks. Pillow's PNG verify reads each chunk whole,
    and one IDAT chunk may hold the whole image (tens of MB per result, four results at once)."""
    fp.seek(8)
    while True:
        head = fp.read(8)
        if len(head) < 8:
            raise NotAnImageError("the image data is damaged (the PNG ends before its last chunk)")
        length, kind = struct.unpack(">I4s", head)
        crc = zlib.crc32(kind)
        left = length
        while left:
            block = fp.read(min(left, _PNG_VERIFY_BLOCK))
            if not block:
                raise NotAnImageError(f"the image data is damaged (its {kind!r} chunk is cut short)")
            crc = zlib.crc32(block, crc)
            left -= len(block)
        stored = fp.read(4)
        if len(stored) < 4 or struct.unpack(">I", stored)[0] != crc:
            raise NotAnImageError(f"the image data is damaged (bad checksum in its {kind!r} chunk)")
        if kind == b"IEND":
            return


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
    from PIL import Image, UnidentifiedImageError  # lazily: start-up time matters (identify_image)

    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as im:
            if im.format == "JPEG":
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: far less work for a 4k source. The box is
                # square so EXIF rotation later cannot leave it too small on either side.
                im.draft("RGB", (max_side, max_side))
            # Checked from the header (and the draft scale) before a single pixel is decoded.
            pixels = im.width * im.height
            if pixels > PREVIEW_MAX_PIXELS:
                raise PreviewSkipped(
                    f"no preview: at {im.width}x{im.height} it is more pixels than previews decode "
                    f"({PREVIEW_MAX_PIXELS / 1e6:.1f} million); open the saved file to see it"
                )
            flat = DECODES.run(pixels, partial(_shrink, im, max_side))
    except PreviewSkipped:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PreviewSkipped("no preview: it has more pixels than previews decode") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
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


def _shrink(im: Image.Image, max_side: int) -> Image.Image:
    """The decode: `im` at most `max_side` on its longest side, upright, flattened for JPEG."""
    from PIL import Image, ImageOps

    # reducing_gap=1.0: shrink by whole factors with reduce(), then resample only the small remainder.
    im.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=1.0)
    # Turned after shrinking: exif_transpose copies the image it turns. The box is square, so the turned
    # thumbnail fits it too.
    upright = ImageOps.exif_transpose(im) if im.getexif().get(_ORIENTATION, 1) != 1 else im
    return _flatten(upright)


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
