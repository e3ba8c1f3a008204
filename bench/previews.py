"""5. Previews: a 4k image to the preview the model sees, as the server makes it (core.images).

The source is a photo-like PNG (smooth colour fields plus fine grain, so it compresses and decodes like
a photograph rather than like a flat placeholder) at RunAPI's 4k sizes: 16:9 (3840x2160) and 1:1
(3840x3840, the largest 4k output). Timed from the file on disk, the way the server calls it right after
a download, median of several runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio.to_thread
from PIL import Image

from bench.common import Row, RunConfig, Section, image_tokens, median
from runapi_mcp.core.images import DEFAULT_MAX_SIDE, make_preview

MAX_MS = 150.0
MAX_TOKENS = 800
SIZES = (("16:9", (3840, 2160)), ("1:1", (3840, 3840)))


def photo_like(size: tuple[int, int]) -> Image.Image:
    width, height = size
    fields = [
        Image.effect_noise((max(2, width // 48), max(2, height // 48)), 70).resize(size, Image.Resampling.BICUBIC)
        for _ in range(3)
    ]
    colour = Image.merge("RGB", fields)
    grain = Image.merge("RGB", [Image.effect_noise(size, 40) for _ in range(3)])
    return Image.blend(colour, grain, 0.12)


async def run(cfg: RunConfig) -> Section:
    return await anyio.to_thread.run_sync(_measure, cfg)


def _measure(cfg: RunConfig) -> Section:
    section = Section()
    folder = cfg.folder("previews")
    repeats = 1 if cfg.quick else 7
    for label, full_size in SIZES:
        # The smoke run only checks that the measurement works: a quarter of each side is plenty.
        size = (full_size[0] // 4, full_size[1] // 4) if cfg.quick else full_size
        path = folder / f"photo-{size[0]}x{size[1]}.png"
        photo_like(size).save(path, format="PNG")
        make_preview(path)  # untimed: Pillow's plugins load on first use
        times: list[float] = []
        preview = None
        for _ in range(repeats):
            start = time.perf_counter()
            preview = make_preview(path)
            times.append(time.perf_counter() - start)
        assert preview is not None
        ms = median(times) * 1000
        tokens = image_tokens(preview.width, preview.height)
        section.rows.append(
            Row(
                f"5. preview of a 4k {label} image ({size[0]}x{size[1]}{', quick' if cfg.quick else ''})",
                f"{ms:.0f} ms, {len(preview.data) / 1024:.0f} KiB, {tokens:.0f} tokens "
                f"({preview.width}x{preview.height})",
                f"full image {image_tokens(*size):,.0f} tokens, PNG {_size_mib(path):.1f} MiB",
                f"< {MAX_MS:g} ms, ≤ {MAX_TOKENS} tokens",
                ms < MAX_MS and tokens <= MAX_TOKENS,
            )
        )
    section.notes.append(
        f"5. make_preview(path) with the default longest side {DEFAULT_MAX_SIDE} px (JPEG quality 80), median of "
        f"{repeats} run(s) after one untimed run, in one thread (the server runs it in a worker thread)."
    )
    return section


def _size_mib(path: Path) -> float:
    return path.stat().st_size / (1024 * 1024)
