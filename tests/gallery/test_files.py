"""The gallery serves only files the journal names inside the allowed folders: no path trick gets past it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from runapi_mcp.gallery.files import ImageFiles, Refused


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "project"
    (root / "runapi-images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(root / "runapi-images" / "ok.png")
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (8, 8), "blue").save(outside / "secret.png")
    (outside / "secret.txt").write_text("not yours")
    return root, outside


def test_a_saved_png_inside_the_root_is_served_with_its_sniffed_type(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    image = ImageFiles([root]).read(str(root / "runapi-images" / "ok.png"))
    assert image.content_type == "image/png" and image.data == (root / "runapi-images" / "ok.png").read_bytes()


@pytest.mark.parametrize(
    ("recorded", "reason"),
    [
        ("{outside}/secret.png", "outside the allowed folders"),
        ("{root}/runapi-images/../../outside/secret.png", "climbs out"),
        ("{root}/../outside/secret.png", "climbs out"),
        ("runapi-images/ok.png", "not absolute"),
        ("{root}/runapi-images/missing.png", "gone"),
        ("{root}/runapi-images/ok.png\x00.txt", "not a file name"),
        ("", "no file was saved"),
        ("/etc/passwd", "outside the allowed folders"),
    ],
)
def test_paths_outside_climbing_relative_missing_or_malformed_are_refused(
    tree: tuple[Path, Path], recorded: str, reason: str
) -> None:
    root, outside = tree
    with pytest.raises(Refused, match=reason):
        ImageFiles([root]).read(recorded.format(root=root, outside=outside))


def test_a_symlink_is_refused_even_when_it_points_inside_the_root(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "runapi-images" / "escape.png").symlink_to(outside / "secret.png")
    (root / "runapi-images" / "alias.png").symlink_to(root / "runapi-images" / "ok.png")
    files = ImageFiles([root])
    for name in ("escape.png", "alias.png"):
        with pytest.raises(Refused, match="symbolic link"):
            files.read(str(root / "runapi-images" / name))


def test_a_symlinked_folder_leading_outside_is_refused(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(Refused, match="outside the allowed folders"):
        ImageFiles([root]).read(str(root / "linked" / "secret.png"))


def test_a_file_that_is_not_an_image_or_not_a_regular_file_is_refused(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "runapi-images" / "fake.png").write_text("#!/bin/sh\necho hi\n")
    files = ImageFiles([root])
    with pytest.raises(Refused, match="not a PNG"):
        files.read(str(root / "runapi-images" / "fake.png"))
    with pytest.raises(Refused, match="not a regular file"):
        files.read(str(root / "runapi-images"))
    fifo = root / "runapi-images" / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(Refused):
        files.read(str(fifo))


def test_roots_that_do_not_exist_are_dropped_and_a_symlinked_root_counts_as_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    Image.new("RGB", (4, 4)).save(real / "a.png")
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    files = ImageFiles([tmp_path / "missing", tmp_path / "via"])
    assert files.roots == (real.resolve(),)
    assert files.read(str(real / "a.png")).content_type == "image/png"
