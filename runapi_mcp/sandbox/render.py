"""Placeholder images: real PNGs at the size a task asks for, with the prompt drawn in and a SANDBOX mark.

Pure functions of their input (same input, same bytes), fast at 4k: gradients come from resizing a
2x2 image and shapes from ImageDraw, never per-pixel Python. Callers run these in a worker thread.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont, ImageOps

from runapi_mcp.runapi.models import ASPECT_RATIOS
from runapi_mcp.sandbox.fonts import font_for, latin_font
from runapi_mcp.sandbox.text_layout import clip, clip_lines, wrap

LONG_SIDE: dict[str, int] = {"1k": 1024, "2k": 2048, "4k": 3840}
DEFAULT_RESOLUTION = "1k"
DEFAULT_RATIO = "1:1"

Colour = tuple[int, int, int]


def image_size(aspect_ratio: str | None, output_resolution: str | None) -> tuple[int, int]:
    """(width, height): the longest side set by the resolution, both sides multiples of 16.

    `auto` or no ratio renders square, the way an unset ratio behaves at 1k.
    """
    ratio = aspect_ratio if aspect_ratio and aspect_ratio != "auto" else DEFAULT_RATIO
    long_side = LONG_SIDE[output_resolution or DEFAULT_RESOLUTION]
    across, down = (int(part) for part in ratio.split(":"))
    short_side = max(16, round(long_side * min(across, down) / max(across, down) / 16) * 16)
    return (long_side, short_side) if across >= down else (short_side, long_side)


@dataclass(frozen=True)
class SourceTile:
    """One edit source: its bytes, or None for a source the sandbox will not fetch (drawn as a marked tile)."""

    data: bytes | None
    label: str


@dataclass(frozen=True)
class RenderSpec:
    action: str
    prompt: str
    aspect_ratio: str | None
    output_resolution: str | None
    sources: tuple[SourceTile, ...] = field(default=())
    marked: bool = True
    """False leaves out the prompt panel, badge and footer: the picture alone, for tiling into an edit."""


def nearest_ratio(size: tuple[int, int]) -> str:
    """The aspect-ratio value closest to an image's shape (compared on a log scale, so 2:1 and 1:2 mirror)."""
    shape = math.log(size[0] / size[1])

    def distance(ratio: str) -> float:
        across, down = (int(part) for part in ratio.split(":"))
        return abs(math.log(across / down) - shape)

    return min((ratio for ratio in ASPECT_RATIOS if ratio != "auto"), key=distance)


def _source_size(source: SourceTile) -> tuple[int, int] | None:
    if source.data is None:
        return None
    try:
        with Image.open(io.BytesIO(source.data)) as opened:
            width, height = opened.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def effective_ratio(spec: RenderSpec) -> tuple[str | None, str]:
    """(ratio to render, how the footer names it): an edit without a ratio keeps its first source's shape."""
    if spec.aspect_ratio not in (None, "auto") or not spec.sources:
        return spec.aspect_ratio, spec.aspect_ratio or "unset"
    size = _source_size(spec.sources[0])
    if size is None:
        return spec.aspect_ratio, spec.aspect_ratio or "unset"
    ratio = nearest_ratio(size)
    return ratio, f"{ratio} (from source 1)"


def render_png(spec: RenderSpec) -> bytes:
    ratio, ratio_note = effective_ratio(spec)
    width, height = image_size(ratio, spec.output_resolution)
    seed = hashlib.sha256(
        "\x1f".join([spec.action, spec.prompt, spec.aspect_ratio or "", spec.output_resolution or ""]).encode()
    ).digest()
    canvas = _gradient((width, height), seed)
    if spec.sources:
        _tile_sources(canvas, spec.sources)
    else:
        _shapes(canvas, seed)
    if not spec.marked:
        return _png(canvas)
    _prompt_panel(canvas, spec.prompt)
    ratio = ratio_note
    resolution = spec.output_resolution or "unset"
    kind = f"edit of {len(spec.sources)} source(s)" if spec.sources else "text to image"
    _marks(canvas, f"runapi-mcp sandbox · {kind} · {ratio} · {resolution} · {width}x{height} · not a generated image")
    return _png(canvas)


def render_placeholder_png(label: str, size: tuple[int, int] = (512, 512)) -> bytes:
    """The stand-in for an outside URL registered as a temporary file: the sandbox never fetches it."""
    canvas = Image.new("RGB", size, (120, 120, 120))
    _placeholder(canvas, (0, 0, *size), label)
    _marks(canvas, "runapi-mcp sandbox · outside URL, not fetched")
    return _png(canvas)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Level 3 keeps a 4k encode near 0.1 s; these images are smooth and compress well anyway.
    image.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def _palette(seed: bytes, offset: int) -> Colour:
    red, green, blue = seed[offset], seed[offset + 1], seed[offset + 2]
    # Lift dark colours so the white prompt text and the dark panel both stay readable.
    return (64 + red * 3 // 4, 64 + green * 3 // 4, 64 + blue * 3 // 4)


def _gradient(size: tuple[int, int], seed: bytes) -> Image.Image:
    corners = Image.frombytes("RGB", (2, 2), bytes(c for offset in (0, 3, 6, 9) for c in _palette(seed, offset)))
    # Pillow's stubs leave part of resize's signature unknown.
    return corners.resize(size, Image.Resampling.BILINEAR)  # pyright: ignore[reportUnknownMemberType]


def _shapes(canvas: Image.Image, seed: bytes) -> None:
    width, height = canvas.size
    unit = min(width, height)
    draw = ImageDraw.Draw(canvas, "RGBA")
    for index in range(6):
        byte = seed[12 + index * 3 : 15 + index * 3]
        centre_x = byte[0] * width // 255
        centre_y = byte[1] * height // 255
        radius = unit // 10 + byte[2] * unit // 900
        colour = (*_palette(seed, (index * 5) % 28), 90)
        box = (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius)
        if index % 2:
            draw.rectangle(box, fill=colour)
        else:
            draw.ellipse(box, fill=colour)


def _grid(count: int, size: tuple[int, int]) -> tuple[int, int]:
    """(columns, rows) that keep tiles close to square on this canvas."""
    width, height = size
    best = (count, 1)
    best_score = math.inf
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        tile_ratio = (width / columns) / (height / rows)
        score = abs(math.log(tile_ratio)) + (columns * rows - count) * 0.3
        if score < best_score:
            best, best_score = (columns, rows), score
    return best


def _tile_sources(canvas: Image.Image, sources: tuple[SourceTile, ...]) -> None:
    columns, rows = _grid(len(sources), canvas.size)
    width, height = canvas.size
    for index, source in enumerate(sources):
        column, row = index % columns, index // columns
        box = (
            column * width // columns,
            row * height // rows,
            (column + 1) * width // columns,
            (row + 1) * height // rows,
        )
        tile_size = (box[2] - box[0], box[3] - box[1])
        tile = _decode(source.data, tile_size) if source.data is not None else None
        if tile is None:
            label = source.label if source.data is None else f"unreadable image\n{source.label}"
            _placeholder(canvas, box, label)
        else:
            canvas.paste(tile, box[:2])


def _decode(data: bytes, size: tuple[int, int]) -> Image.Image | None:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", size)
            image = opened.convert("RGBA")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    backdrop = Image.new("RGBA", image.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(backdrop, image).convert("RGB")
    return ImageOps.fit(flat, size, Image.Resampling.BILINEAR)


def _placeholder(canvas: Image.Image, box: tuple[int, int, int, int], label: str) -> None:
    # Drawn on its own tile so the stripes stay inside the box.
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    tile = Image.new("RGB", (width, height), (128, 128, 128))
    draw = ImageDraw.Draw(tile)
    step = max(16, width // 12)
    for offset in range(-height, width, step):
        draw.line((offset, height, offset + height, 0), fill=(150, 150, 150), width=step // 3)
    font, label = font_for(label, max(12, min(width, height) // 16))
    draw.multiline_text(
        (width // 2, height // 2),
        clip_lines(label.split("\n"), font, width - 16),
        font=font,
        fill=(255, 255, 255),
        anchor="mm",
        align="center",
        stroke_width=2,
        stroke_fill=(40, 40, 40),
    )
    canvas.paste(tile, (left, top))


def _prompt_panel(canvas: Image.Image, prompt: str) -> None:
    width, height = canvas.size
    unit = min(width, height)
    font, prompt = font_for(prompt, max(12, unit // 24))
    margin = max(8, unit // 32)
    padding = max(6, unit // 64)
    line_height = int(font.size * 1.3) if isinstance(font, ImageFont.FreeTypeFont) else 14
    lines = wrap(prompt, font, width - 2 * (margin + padding), max_lines=4)
    footer = _footer_height(unit)
    panel_bottom = height - footer - margin // 2
    panel_top = panel_bottom - len(lines) * line_height - 2 * padding
    draw = ImageDraw.Draw(canvas, "RGBA")
    draw.rounded_rectangle((margin, panel_top, width - margin, panel_bottom), radius=padding, fill=(0, 0, 0, 150))
    for index, line in enumerate(lines):
        draw.text((margin + padding, panel_top + padding + index * line_height), line, font=font, fill="white")


def _footer_height(unit: int) -> int:
    return max(18, unit // 32)


def _marks(canvas: Image.Image, footer_text: str) -> None:
    width, height = canvas.size
    unit = min(width, height)
    draw = ImageDraw.Draw(canvas, "RGBA")
    badge_font = latin_font(max(14, unit // 14))
    margin = max(6, unit // 40)
    left, top, right, bottom = draw.textbbox((0, 0), "SANDBOX", font=badge_font)
    pad = max(4, unit // 80)
    box = (margin, margin, margin + right - left + 2 * pad, margin + bottom - top + 2 * pad)
    draw.rectangle(box, fill=(200, 20, 30, 235), outline=(255, 255, 255, 255), width=max(1, unit // 300))
    draw.text((margin + pad - left, margin + pad - top), "SANDBOX", font=badge_font, fill="white")
    footer = _footer_height(unit)
    draw.rectangle((0, height - footer, width, height), fill=(0, 0, 0, 200))
    footer_font = latin_font(max(9, footer * 2 // 3))
    draw.text(
        (width // 2, height - footer // 2),
        clip(footer_text, footer_font, width - 8),
        font=footer_font,
        fill=(255, 255, 255),
        anchor="mm",
    )
