"""Huge result images: no preview decode past the pixel cap, and huge previews decoded one at a time.

The images are the sandbox's `huge-image` fault PNGs (real files any decoder reads). Decodes are counted by
wrapping Pillow's PNG loader, so the tests see what was decoded, not how long it took.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from PIL import PngImagePlugin

from runapi_mcp.core.concurrency import gather
from runapi_mcp.core.images import (
    PREVIEW_MAX_PIXELS,
    NotAnImageError,
    PreviewSkipped,
    identify_image,
    make_preview,
    make_preview_async,
)
from runapi_mcp.sandbox.faults import parse_fault
from runapi_mcp.sandbox.huge import HugeSpec, huge_png

pytestmark = pytest.mark.anyio


class DecodeSpy:
    """How many PNG decodes ran, at most at once, and of how many pixels each."""

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[DecodeSpy]:
    spy = DecodeSpy()
    real_load = PngImagePlugin.PngImageFile.load

    def load(self: PngImagePlugin.PngImageFile):  # type: ignore[no-untyped-def]
        if self.tile:  # a decode is about to happen (an image already loaded has no tiles left)
            with spy._lock:
                spy.sizes.append(self.size)
                spy.running += 1
                spy.most_at_once = max(spy.most_at_once, spy.running)
            try:
                time.sleep(0.05)  # hold the slot long enough for overlapping decodes to be seen
                return real_load(self)
            finally:
                with spy._lock:
                    spy.running -= 1
        return real_load(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", load)
    yield spy


def write(tmp_path: Path, name: str, spec: HugeSpec) -> Path:
    path = tmp_path / name
    path.write_bytes(huge_png(spec))
    return path


def test_a_decompression_bomb_gets_no_preview_and_is_never_decoded(tmp_path: Path, decodes: DecodeSpy) -> None:
    bomb = write(tmp_path, "bomb.png", HugeSpec("bomb", 9000, 0))
    assert bomb.stat().st_size < 1_000_000  # small file, 81 million pixels
    with pytest.raises(PreviewSkipped, match="9000x9000"):
        make_preview(bomb)
    assert decodes.sizes == []


async def test_four_huge_previews_at_once_are_decoded_one_at_a_time(tmp_path: Path, decodes: DecodeSpy) -> None:
    side = 4200  # 17.6 Mpx: under the preview cap, two of them over the decode budget
    assert side * side <= PREVIEW_MAX_PIXELS < 2 * side * side
    paths = [write(tmp_path, f"{i}.png", HugeSpec("bomb", side + i, 0)) for i in range(4)]
    previews = await gather([lambda p=p: make_preview_async(p, 256) for p in paths])
    assert [max(p.width, p.height) for p in previews] == [256] * 4
    assert len(decodes.sizes) == 4 and decodes.most_at_once == 1


async def test_small_previews_still_decode_side_by_side(tmp_path: Path, decodes: DecodeSpy) -> None:
    paths = [write(tmp_path, f"{i}.png", HugeSpec("bomb", 1024, 0)) for i in range(4)]
    barrier = threading.Barrier(4, timeout=10)  # every decode waits for the others: only possible side by side
    real = PngImagePlugin.PngImageFile.load

    def load(self: PngImagePlugin.PngImageFile):  # type: ignore[no-untyped-def]
        if self.tile:
            barrier.wait()
        return real(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PngImagePlugin.PngImageFile, "load", load)
        with anyio.fail_after(20):
            await gather([lambda p=p: make_preview_async(p, 128) for p in paths])


def test_the_huge_image_fault_builds_the_png_it_names_and_refuses_bad_parameters() -> None:
    fault = parse_fault("huge-image;shape=big;side=1200;mb=2")
    assert fault.huge == HugeSpec("big", 1200, 2.0)
    assert fault.huge is not None
    data = huge_png(fault.huge)
    assert data.startswith(b"\x89PNG") and 1_800_000 < len(data) < 2_400_000
    assert parse_fault("huge-image").huge == HugeSpec("bomb", 9000, 40.0)
    for bad in ("huge-image;shape=tiny", "huge-image;side=0", "huge-image;side=x", "huge-image;mb=-1"):
        with pytest.raises(ValueError, match="huge-image"):
            parse_fault(bad)


def test_checking_a_png_with_one_huge_data_chunk_never_holds_the_chunk_in_memory(tmp_path: Path) -> None:
    path = write(tmp_path, "big.png", HugeSpec("big", 3000, 20))  # one 20 MB IDAT chunk, as huge.py writes it
    assert path.stat().st_size > 20_000_000
    tracemalloc.start()
    try:
        facts = identify_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (facts.width, facts.height) == (3000, 3000)
    assert peak < 4_000_000, f"{peak / 1e6:.1f} MB held while checking a {path.stat().st_size / 1e6:.0f} MB file"


def test_a_png_whose_data_chunk_checksum_is_wrong_is_still_refused(tmp_path: Path) -> None:
    data = bytearray(huge_png(HugeSpec("big", 300, 0.1)))
    data[-20] ^= 0xFF  # inside IDAT's payload, just before its CRC and IEND
    with pytest.raises(NotAnImageError, match="damaged"):
        identify_image(bytes(data))
    with pytest.raises(NotAnImageError, match="damaged"):
        identify_image(bytes(data[:-12]))  # no IEND
