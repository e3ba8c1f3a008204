"""edit_image references: every accepted form parses, and every hostile one is refused with a clear error."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from runapi_mcp.core import references
from runapi_mcp.core.errors import InputError
from runapi_mcp.core.references import DataImage, LocalImage, RemoteImage, TaskImageRef, parse_image_ref

MAX = 1024 * 1024
TASK = "3f6c1a52-8e0b-4c7d-9a1e-2b5f7c9d0e14"
Resolver = Callable[[str, int], Iterable[str]]
ImageFactory = Callable[..., bytes]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture
def outside(tmp_path: Path, make_image: ImageFactory) -> Path:
    """A real image outside every root: refusing it must not depend on it being broken."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.png").write_bytes(make_image())
    return folder


def parse(ref: str, project: Path, **kw: object) -> object:
    options: dict[str, object] = {"working_dir": project, "roots": (project,), "max_bytes": MAX}
    options.update(kw)
    return parse_image_ref(ref, **options)  # type: ignore[arg-type]


# ---- local files ---------------------------------------------------------------------------------


def test_relative_path_reads_the_image_with_type_and_hash(project: Path, make_image: ImageFactory) -> None:
    data = make_image("PNG")
    (project / "art").mkdir()
    (project / "art" / "cat.png").write_bytes(data)
    ref = parse("art/cat.png", project)
    assert ref == LocalImage(project / "art" / "cat.png", data, "image/png", hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_type_comes_from_the_content_not_the_name(project: Path, make_image: ImageFactory, fmt: str, mime: str) -> None:
    (project / "picture.png").write_bytes(make_image(fmt))
    ref = parse("picture.png", project)
    assert isinstance(ref, LocalImage)
    assert ref.mime_type == mime


def test_absolute_path_and_file_uri_read_the_same_file(project: Path, make_image: ImageFactory) -> None:
    (project / "my cat.png").write_bytes(make_image())
    by_path = parse(str(project / "my cat.png"), project)
    by_uri = parse((project / "my cat.png").as_uri(), project)
    by_localhost = parse("file://localhost" + (project / "my cat.png").as_uri()[len("file://") :], project)
    assert by_path == by_uri == by_localhost


def test_tilde_expands_to_the_home_directory(
    project: Path, make_image: ImageFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(project))
    (project / "cat.png").write_bytes(make_image())
    ref = parse("~/cat.png", project, working_dir=project / "elsewhere")
    assert isinstance(ref, LocalImage)
    assert ref.path == project / "cat.png"


def test_file_in_a_second_configured_root_is_accepted(tmp_path: Path, project: Path, make_image: ImageFactory) -> None:
    extra = tmp_path / "assets"
    extra.mkdir()
    (extra / "logo.png").write_bytes(make_image())
    ref = parse(str(extra / "logo.png"), project, roots=(project, extra))
    assert isinstance(ref, LocalImage)


def test_dot_dot_escape_is_refused_even_for_a_real_image(project: Path, outside: Path) -> None:
    with pytest.raises(InputError) as caught:
        parse("../outside/secret.png", project)
    message = str(caught.value)
    assert "outside the allowed folders" in message
    assert "RUNAPI_MCP_ALLOWED_ROOTS" in message


def test_dot_dot_that_comes_back_inside_is_fine(project: Path, make_image: ImageFactory) -> None:
    (project / "a").mkdir()
    (project / "cat.png").write_bytes(make_image())
    assert isinstance(parse("a/../cat.png", project), LocalImage)


def test_symlink_to_a_file_outside_the_roots_is_refused(project: Path, outside: Path) -> None:
    (project / "innocent.png").symlink_to(outside / "secret.png")
    with pytest.raises(InputError, match="outside the allowed folders"):
        parse("innocent.png", project)


def test_symlinked_folder_leading_outside_is_refused(project: Path, outside: Path) -> None:
    (project / "assets").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="outside the allowed folders"):
        parse("assets/secret.png", project)


def test_symlink_that_stays_inside_the_roots_is_followed(project: Path, make_image: ImageFactory) -> None:
    (project / "real.png").write_bytes(make_image())
    (project / "alias.png").symlink_to(project / "real.png")
    ref = parse("alias.png", project)
    assert isinstance(ref, LocalImage)
    assert ref.path == project / "real.png"


def test_file_uri_outside_the_roots_is_refused(project: Path, outside: Path) -> None:
    with pytest.raises(InputError, match="outside the allowed folders"):
        parse((outside / "secret.png").as_uri(), project)


def test_file_uri_naming_another_machine_is_refused(project: Path) -> None:
    with pytest.raises(InputError, match="another machine"):
        parse("file://fileserver/share/cat.png", project)


def test_outside_file_that_does_not_exist_gets_the_same_answer_as_one_that_does(project: Path, outside: Path) -> None:
    with pytest.raises(InputError, match="outside the allowed folders"):
        parse(str(outside / "no-such.png"), project)


def test_filesystem_root_as_working_directory_opens_nothing(project: Path, make_image: ImageFactory) -> None:
    (project / "cat.png").write_bytes(make_image())
    with pytest.raises(InputError, match=r"outside the allowed folders \(none are set\)"):
        parse(str(project / "cat.png"), project, working_dir=Path("/"), roots=(Path("/"),))
    ref = parse(str(project / "cat.png"), project, working_dir=Path("/"), roots=(Path("/"), project))
    assert isinstance(ref, LocalImage)


def test_text_file_renamed_png_is_refused(project: Path) -> None:
    (project / "notes.png").write_text("just some text, not a picture\n")
    with pytest.raises(InputError, match="not an image"):
        parse("notes.png", project)


def test_unaccepted_image_format_is_refused(project: Path, make_image: ImageFactory) -> None:
    (project / "scan.png").write_bytes(make_image("TIFF"))
    with pytest.raises(InputError, match="TIFF"):
        parse("scan.png", project)


def test_truncated_png_is_refused(project: Path, make_image: ImageFactory) -> None:
    data = make_image("PNG", size=(300, 300))
    (project / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot be used"):
        parse("cut.png", project)


def test_oversized_file_is_refused_before_it_is_opened(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = project / "huge.png"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024 * 1024)  # sparse: 50 GB on paper, nothing on disk
    opened: list[str] = []
    real_open = os.open

    def spy(path: object, *args: object, **kwargs: object) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(references.os, "open", spy)
    with pytest.raises(InputError) as caught:
        parse("huge.png", project)
    assert "over the 1.0 MB limit" in str(caught.value)
    assert "RUNAPI_MCP_MAX_INPUT_MB" in str(caught.value)
    assert str(big) not in opened


def test_missing_file_says_where_relative_paths_start(project: Path) -> None:
    with pytest.raises(InputError) as caught:
        parse("nope.png", project)
    assert "does not exist" in str(caught.value)
    assert str(project) in str(caught.value)


def test_folder_is_refused(project: Path) -> None:
    (project / "pics").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        parse("pics", project)


def test_empty_file_is_refused(project: Path) -> None:
    (project / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        parse("empty.png", project)


@pytest.mark.timeout(10)
def test_fifo_is_refused_without_blocking(project: Path) -> None:
    os.mkfifo(project / "pipe.png")
    with pytest.raises(InputError, match="not a regular file"):
        parse("pipe.png", project)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_gives_an_input_error_not_an_os_error(project: Path, make_image: ImageFactory) -> None:
    target = project / "locked.png"
    target.write_bytes(make_image())
    target.chmod(0)
    with pytest.raises(InputError, match="cannot be read"):
        parse("locked.png", project)


# ---- data: URIs ----------------------------------------------------------------------------------


def test_data_uri_decodes_to_the_image(project: Path, make_image: ImageFactory) -> None:
    data = make_image("JPEG")
    ref = parse("data:image/jpeg;base64," + base64.b64encode(data).decode(), project)
    assert ref == DataImage(data, "image/jpeg", hashlib.sha256(data).hexdigest())


def test_data_uri_type_is_taken_from_the_content(project: Path, make_image: ImageFactory) -> None:
    ref = parse("DATA:image/jpeg;BASE64," + base64.b64encode(make_image("PNG")).decode(), project)
    assert isinstance(ref, DataImage)
    assert ref.mime_type == "image/png"


def test_data_uri_with_line_breaks_in_the_base64_is_accepted(project: Path, make_image: ImageFactory) -> None:
    encoded = base64.encodebytes(make_image()).decode()  # wrapped at 76 characters
    assert "\n" in encoded
    assert isinstance(parse("data:image/png;base64," + encoded, project), DataImage)


@pytest.mark.parametrize(
    "payload",
    ["!!!!", "iVBORw0KGgo", "iVBORw0KGgo=A===", "iVBO%2BRw0=", "iVBO-_Rw0KGgo="],
    ids=["junk", "bad-padding", "data-after-padding", "percent-encoded", "urlsafe-alphabet"],
)
def test_invalid_base64_is_refused(project: Path, payload: str) -> None:
    with pytest.raises(InputError, match="valid base64"):
        parse("data:image/png;base64," + payload, project)


def test_base64_of_something_that_is_not_an_image_is_refused(project: Path) -> None:
    with pytest.raises(InputError, match="not an image"):
        parse("data:image/png;base64," + base64.b64encode(b"<html>hello</html>").decode(), project)


def test_data_uri_of_a_non_image_type_is_refused(project: Path) -> None:
    with pytest.raises(InputError, match=r"not an image \(type text/plain\)"):
        parse("data:text/plain;base64,aGVsbG8=", project)


def test_data_uri_without_base64_is_refused(project: Path) -> None:
    with pytest.raises(InputError, match="not base64-encoded"):
        parse("data:image/svg+xml,<svg/>", project)


def test_oversized_data_uri_is_refused_before_decoding(project: Path) -> None:
    # Not valid base64 either: the size error proves the size is checked first.
    with pytest.raises(InputError, match=r"over the 1\.0 MB limit"):
        parse("data:image/png;base64," + "!" * (2 * MAX), project)


def test_error_for_a_data_uri_does_not_echo_the_payload(project: Path) -> None:
    with pytest.raises(InputError) as caught:
        parse("data:image/png;base64," + "A" * 5000 + "!", project)
    assert len(str(caught.value)) < 300


# ---- URLs, tasks and unknown forms ----------------------------------------------------------------


def test_public_url_is_passed_through_unchanged(project: Path, public_resolver: Resolver) -> None:
    url = "https://images.example.com/cat.png?X-Signature=abc"
    assert parse(url, project, resolver=public_resolver) == RemoteImage(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/a.png", "http://2130706433/a.png", "http://[::1]/", "http://localhost/"]
)
def test_url_to_this_machine_is_refused(project: Path, url: str, public_resolver: Resolver) -> None:
    with pytest.raises(InputError, match=r"loopback|localhost"):
        parse(url, project, resolver=public_resolver)


def test_url_on_an_allowed_host_is_accepted(project: Path) -> None:
    url = "http://127.0.0.1:8765/files/a.png"
    assert parse(url, project, allow_hosts=("127.0.0.1",)) == RemoteImage(url)


def test_task_reference_without_index_means_the_first_image(project: Path) -> None:
    ref = parse(f"task:{TASK}", project)
    assert ref == TaskImageRef(TASK, None)
    assert isinstance(ref, TaskImageRef)
    assert ref.position == 0


def test_task_reference_with_index(project: Path) -> None:
    ref = parse(f"  TASK:{TASK}#2 ", project)
    assert ref == TaskImageRef(TASK, 2)


@pytest.mark.parametrize("ref", ["task:", "task:#1", "task:../../etc", f"task:{TASK}#-1", f"task:{TASK}#x", "task:a/b"])
def test_malformed_task_references_are_refused(project: Path, ref: str) -> None:
    with pytest.raises(InputError, match="task:<task_id>#<index>"):
        parse(ref, project)


@pytest.mark.parametrize("ref", ["ftp://example.com/a.png", "s3://bucket/a.png", "blob:https://x/y"])
def test_unknown_scheme_lists_the_accepted_forms(project: Path, ref: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(ref, project)
    message = str(caught.value)
    for form in ("local file path", "file://", "http(s) URL", "data:image/", "task:<task_id>"):
        assert form in message


def test_blank_reference_is_refused(project: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        parse("   ", project)
