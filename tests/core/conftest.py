"""Helpers for the core building blocks: real images made with Pillow, and a resolver that needs no network."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

import pytest
from PIL import Image

ImageFactory = Callable[..., bytes]


def _encode(fmt: str = "PNG", size: tuple[int, int] = (64, 48), mode: str = "RGB", color: object = None) -> bytes:
    if color is None:
        defaults: dict[str, object] = {"RGB": (200, 30, 30), "RGBA": (200, 30, 30, 255), "L": 128, "LA": (128, 255)}
        color = defaults.get(mode, 0)
    im = Image.new(mode, size, color)  # type: ignore[arg-type]
    out = io.BytesIO()
    im.save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def make_image() -> ImageFactory:
    """make_image(fmt="PNG", size=(64, 48), mode="RGB", color=None) -> encoded bytes."""
    return _encode


@pytest.fixture
def public_resolver() -> Callable[[str, int], Iterable[str]]:
    """Every host name resolves to a public documentation-free address; no DNS query leaves the machine."""

    def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    return resolve
