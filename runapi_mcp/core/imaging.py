"""Is this really an image, of a kind RunAPI takes, and how big? Decided by content, never by name or header.

Blocking (Pillow): call it in a worker thread from async code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

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


class NotAnImageError(ValueError):
    """The data is not an accepted image; the message says what it is instead (for the caller's error)."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: PNG, JPEG, WEBP, GIF
    mime_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.mime_type]


def identify_image(source: bytes | Path) -> ImageInfo:
    """Open and verify `source` (bytes or a file); raise NotAnImageError saying why it is refused."""
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
            im.verify()
    except NotAnImageError:
        raise
    except UnidentifiedImageError:
        raise NotAnImageError("its content is not an image") from None
    except Image.DecompressionBombError:
        raise NotAnImageError("it has too many pixels") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # what Pillow raises for damaged files
        raise NotAnImageError(f"the image data is damaged ({exc})") from None
    return ImageInfo(fmt, ACCEPTED_FORMATS[fmt], width, height)
