"""Fonts for placeholders: Pillow's built-in one for Latin text, a CJK font found at run time for the rest.

Pillow draws one font per string and its built-in font has no CJK glyphs, so a prompt with CJK text is
drawn whole in a CJK font (those carry Latin too). None is bundled (they are 5-20 MB): the first of the
usual system fonts present is used (Debian's fonts-noto-cjk or fonts-wqy-microhei, macOS's, Windows').
Without one, CJK text is replaced by a visible note rather than drawn as empty boxes.
"""

from __future__ import annotations

import glob
from functools import lru_cache

from PIL import ImageFont

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
)
_CJK_FONT_GLOBS = (
    "/usr/share/fonts/**/*CJK*.tt[cf]",
    "/usr/share/fonts/**/*CJK*.otf",
    "/usr/share/fonts/**/wqy*.tt[cf]",
)
CJK_MISSING_NOTE = "[CJK text not drawn: no CJK font found; install fonts-noto-cjk or fonts-wqy-microhei]"

# Han, kana, Hangul, CJK punctuation and full-width forms: what the built-in font cannot draw.
_CJK_RANGES = (
    (0x1100, 0x11FF),
    (0x2E80, 0x2FDF),
    (0x3000, 0x30FF),
    (0x3100, 0x31FF),
    (0x3200, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),
    (0x20000, 0x3FFFF),
)


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def has_cjk(text: str) -> bool:
    return any(is_cjk(char) for char in text)


@lru_cache(maxsize=1)
def cjk_font_path() -> str | None:
    """The first usable CJK font on this machine, or None."""
    found = [*CJK_FONT_CANDIDATES]
    for pattern in _CJK_FONT_GLOBS:
        found.extend(sorted(glob.glob(pattern, recursive=True)))
    for path in found:
        try:
            ImageFont.truetype(path, 16)
        except OSError:
            continue
        return path
    return None


@lru_cache(maxsize=64)
def latin_font(size: int) -> Font:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=64)
def _cjk_font(path: str, size: int) -> Font:
    return ImageFont.truetype(path, size)


def font_for(text: str, size: int) -> tuple[Font, str]:
    """A font that draws `text`, and the text to draw with it (CJK runs replaced by a note when no font has them)."""
    if not has_cjk(text):
        return latin_font(size), text
    path = cjk_font_path()
    if path is not None:
        return _cjk_font(path, size), text
    return latin_font(size), without_cjk(text)


def without_cjk(text: str) -> str:
    """`text` with each run of CJK characters replaced by `…`, and the missing-font note in front."""
    kept: list[str] = []
    for char in text:
        if not is_cjk(char):
            kept.append(char)
        elif not kept or kept[-1] != "…":
            kept.append("…")
    return CJK_MISSING_NOTE + " " + "".join(kept)
