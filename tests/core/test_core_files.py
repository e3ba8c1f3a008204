"""Output folders stay inside the roots, downloads are capped, checked and atomic, sidecars are written whole."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import anyio
import httpx2
import pytest

from runapi_mcp.core.download import SavedFile, download_to
from runapi_mcp.core.errors import DownloadError, InputError
from runapi_mcp.core.files import image_filename, write_sidecar
from runapi_mcp.core.folders import OutputFolder, resolve_output_dir, resolve_output_dir_async

ImageFactory = Callable[..., bytes]
Handler = Callable[[httpx2.Request], httpx2.Response]
CDN = "cdn.example"
IMAGE_URL = f"https://{CDN}/out/3f6c1a52.png?X-Amz-Signature=abc123"
MB = 1024 * 1024


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    names = ("project", "outside", "fallback-home")
    paths = {name: tmp_path / name for name in names}
    for name in ("project", "outside"):
        paths[name].mkdir()
    return paths


def resolve(requested: str | None, paths: dict[str, Path], **kw: object) -> OutputFolder:
    options: dict[str, object] = {
        "settings_output_dir": None,
        "working_dir": paths["project"],
        "roots": (paths["project"],),
        "fallback_dir": paths["fallback-home"] / "Pictures" / "runapi-mcp",
    }
    options.update(kw)
    return resolve_output_dir(requested, **options)  # type: ignore[arg-type]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ---- resolve_output_dir ----------------------------------------------------------------------------


def test_default_is_runapi_images_in_the_working_directory(roots: dict[str, Path]) -> None:
    out = resolve(None, roots)
    assert out == OutputFolder(roots["project"] / "runapi-images", None)
    assert out.path.is_dir()


def test_blank_request_means_the_default(roots: dict[str, Path]) -> None:
    assert resolve("  ", roots).path == roots["project"] / "runapi-images"


def test_configured_output_dir_is_used_and_created(roots: dict[str, Path], tmp_path: Path) -> None:
    configured = tmp_path / "configured" / "images"
    out = resolve(None, roots, settings_output_dir=configured)
    assert out == OutputFolder(configured, None)
    assert configured.is_dir()


def test_relative_configured_output_dir_is_anchored_at_the_working_directory(roots: dict[str, Path]) -> None:
    out = resolve(None, roots, settings_output_dir=Path("assets/generated"))
    assert out.path == roots["project"] / "assets" / "generated"


def test_requested_relative_folder_is_created_inside_the_project(roots: dict[str, Path]) -> None:
    out = resolve("assets/hero", roots)
    assert out == OutputFolder(roots["project"] / "assets" / "hero", None)
    assert out.path.is_dir()


def test_requested_folder_in_another_root_is_accepted(roots: dict[str, Path]) -> None:
    out = resolve(str(roots["outside"] / "pics"), roots, roots=(roots["project"], roots["outside"]))
    assert out.path == roots["outside"] / "pics"


@pytest.mark.parametrize("requested", ["../outside/x", "../../x", "/tmp/runapi-escape-test", "~/x"])
def test_requested_folder_outside_the_roots_is_refused_and_not_created(
    roots: dict[str, Path], tmp_path: Path, requested: str
) -> None:
    before = files_under(tmp_path)
    with pytest.raises(InputError) as caught:
        resolve(requested, roots)
    message = str(caught.value)
    assert f"output_dir '{requested}' is outside the allowed folders ({roots['project']})" in message
    assert "RUNAPI_MCP_ALLOWED_ROOTS" in message
    assert files_under(tmp_path) == before
    assert not Path("/tmp/runapi-escape-test").exists()


def test_symlink_escape_is_refused_and_nothing_is_created_outside(roots: dict[str, Path]) -> None:
    (roots["project"] / "link").symlink_to(roots["outside"], target_is_directory=True)
    with pytest.raises(InputError, match="outside the allowed folders"):
        resolve("link/sub/deeper", roots)
    assert files_under(roots["outside"]) == []


def test_dangling_symlink_pointing_outside_is_refused(roots: dict[str, Path]) -> None:
    (roots["project"] / "dangling").symlink_to(roots["outside"] / "not-yet")
    with pytest.raises(InputError, match="outside the allowed folders"):
        resolve("dangling", roots)
    assert not (roots["outside"] / "not-yet").exists()


def test_requested_path_that_is_a_file_gives_an_input_error(roots: dict[str, Path]) -> None:
    (roots["project"] / "taken").write_text("a file")
    with pytest.raises(InputError, match="exists and is not a folder"):
        resolve("taken/sub", roots)


def test_filesystem_root_working_directory_falls_back_with_a_note(roots: dict[str, Path]) -> None:
    out = resolve(None, roots, working_dir=Path("/"), roots=(Path("/"),))
    fallback = roots["fallback-home"] / "Pictures" / "runapi-mcp"
    assert out.path == fallback
    assert fallback.is_dir()
    assert out.note is not None
    assert str(fallback) in out.note
    assert "filesystem root" in out.note
    assert not Path("/runapi-images").exists()


def test_relative_request_from_the_filesystem_root_explains_why_it_is_refused(roots: dict[str, Path]) -> None:
    with pytest.raises(InputError) as caught:
        resolve("images", roots, working_dir=Path("/"), roots=(Path("/"),))
    assert "relative output_dir" in str(caught.value)
    assert not Path("/images").exists()


def test_unusable_configured_folder_falls_back_and_names_the_setting(roots: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    out = resolve(None, roots, settings_output_dir=tmp_path / "a-file" / "images")
    assert out.path == roots["fallback-home"] / "Pictures" / "runapi-mcp"
    assert out.note is not None
    assert "RUNAPI_MCP_OUTPUT_DIR" in out.note


def test_fallback_that_cannot_be_created_is_an_input_error_not_an_os_error(
    roots: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(InputError) as caught:
        resolve(None, roots, working_dir=Path("/"), roots=(Path("/"),), fallback_dir=tmp_path / "blocker" / "pics")
    assert "RUNAPI_MCP_OUTPUT_DIR" in str(caught.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_working_directory_falls_back_with_a_note(roots: dict[str, Path]) -> None:
    roots["project"].chmod(0o555)
    try:
        out = resolve(None, roots)
    finally:
        roots["project"].chmod(0o755)
    assert out.path == roots["fallback-home"] / "Pictures" / "runapi-mcp"
    assert out.note is not None
    assert "not writable" in out.note


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_requested_folder_without_permission_is_an_input_error(roots: dict[str, Path]) -> None:
    (roots["project"] / "locked").mkdir(mode=0o555)
    with pytest.raises(InputError, match="permission denied"):
        resolve("locked/sub", roots)


@pytest.mark.anyio
async def test_async_wrapper_gives_the_same_answer(roots: dict[str, Path]) -> None:
    out = await resolve_output_dir_async(
        "x",
        settings_output_dir=None,
        working_dir=roots["project"],
        roots=(roots["project"],),
        fallback_dir=roots["fallback-home"],
    )
    assert out.path == roots["project"] / "x"


# ---- names and sidecars -----------------------------------------------------------------------------


def test_image_filename_has_time_short_task_id_and_index() -> None:
    when = datetime(2025, 3, 4, 5, 6, 7)
    assert image_filename("3f6c1a52-8e0b-4c7d", 1, "png", now=when) == "20250304-050607-3f6c1a52-1.png"
    assert image_filename("ab/../cd", 0, ".JPEG", now=when) == "20250304-050607-abcd-0.jpg"


def test_image_filename_skips_names_already_taken(tmp_path: Path) -> None:
    when = datetime(2025, 3, 4, 5, 6, 7)
    (tmp_path / "20250304-050607-3f6c1a52-0.png").write_bytes(b"old")
    (tmp_path / "20250304-050607-3f6c1a52-0-2.png").write_bytes(b"old")
    assert image_filename("3f6c1a52", 0, "png", now=when, directory=tmp_path) == "20250304-050607-3f6c1a52-0-3.png"


def test_sidecar_is_json_next_to_the_image_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    path = write_sidecar(image, {"prompt": "a red fox ü", "path": tmp_path, "cost_usd": 0.06})
    assert path == tmp_path / "a.png.json"
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "prompt": "a red fox ü",
        "path": str(tmp_path),
        "cost_usd": 0.06,
    }
    assert "\n  " in path.read_text()  # indented
    write_sidecar(image, {"prompt": "second"})
    assert json.loads(path.read_text())["prompt"] == "second"
    assert files_under(tmp_path) == ["a.png", "a.png.json"]


# ---- downloads --------------------------------------------------------------------------------------


def client(handler: Handler, **kw: object) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler), **kw)  # type: ignore[arg-type]


def image_response(data: bytes, content_type: str = "image/png", **kw: object) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": content_type}, content=data, **kw)  # type: ignore[arg-type]


async def fetch(http: httpx2.AsyncClient, dest: Path, *, url: str = IMAGE_URL, max_bytes: int = 8 * MB) -> SavedFile:
    return await download_to(http, url, dest, max_bytes=max_bytes, timeout=5, allow_hosts=(CDN,))


@pytest.mark.anyio
async def test_download_saves_the_image_and_reports_its_facts(tmp_path: Path, make_image: ImageFactory) -> None:
    data = make_image("PNG", size=(320, 200))
    async with client(lambda request: image_response(data)) as http:
        saved = await fetch(http, tmp_path / "out.png")
    assert saved == SavedFile(tmp_path / "out.png", len(data), hashlib.sha256(data).hexdigest(), "image/png", 320, 200)
    assert (tmp_path / "out.png").read_bytes() == data
    assert files_under(tmp_path) == ["out.png"]


@pytest.mark.anyio
async def test_download_never_sends_the_clients_default_headers(tmp_path: Path, make_image: ImageFactory) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return image_response(make_image())

    async with client(handler, headers={"Authorization": "Bearer rk_SECRET"}) as http:
        await fetch(http, tmp_path / "out.png")
    assert len(seen) == 1
    assert "authorization" not in seen[0].headers


@pytest.mark.anyio
async def test_extension_follows_the_content(tmp_path: Path, make_image: ImageFactory) -> None:
    async with client(lambda request: image_response(make_image("JPEG"), "image/png")) as http:
        saved = await fetch(http, tmp_path / "out.png")
    assert saved.path == tmp_path / "out.jpg"
    assert saved.content_type == "image/jpeg"
    assert files_under(tmp_path) == ["out.jpg"]


@pytest.mark.anyio
async def test_existing_file_is_never_overwritten(tmp_path: Path, make_image: ImageFactory) -> None:
    (tmp_path / "out.png").write_bytes(b"earlier result")
    data = make_image()
    async with client(lambda request: image_response(data)) as http:
        saved = await fetch(http, tmp_path / "out.png")
    assert saved.path == tmp_path / "out-2.png"
    assert (tmp_path / "out.png").read_bytes() == b"earlier result"
    assert saved.path.read_bytes() == data


@pytest.mark.anyio
async def test_size_cap_hit_mid_stream_stops_reading_and_leaves_no_file(tmp_path: Path) -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for i in range(10_000):  # bounded: far more than the cap
            sent.append(i)
            yield b"\x89PNG" + b"\0" * (64 * 1024 - 4)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "image/png"}, content=endless())

    async with client(handler) as http:
        with pytest.raises(DownloadError) as caught:
            await fetch(http, tmp_path / "out.png", max_bytes=MB)
    assert "larger than the 1.0 MB cap" in str(caught.value)
    assert "RUNAPI_MCP_MAX_DOWNLOAD_MB" in str(caught.value)
    assert len(sent) <= 20
    assert files_under(tmp_path) == []


@pytest.mark.anyio
async def test_declared_length_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    headers = {"content-type": "image/png", "content-length": str(5 * MB)}
    async with client(lambda request: httpx2.Response(200, headers=headers, content=b"x" * 10)) as http:
        with pytest.raises(DownloadError, match="cap"):
            await fetch(http, tmp_path / "out.png", max_bytes=MB)
    assert files_under(tmp_path) == []


@pytest.mark.anyio
async def test_cap_counts_decompressed_bytes(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (4 * MB))
    headers = {"content-type": "image/png", "content-encoding": "gzip"}
    async with client(lambda request: httpx2.Response(200, headers=headers, content=bomb)) as http:
        with pytest.raises(DownloadError, match="cap"):
            await fetch(http, tmp_path / "out.png", max_bytes=MB)
    assert len(bomb) < MB
    assert files_under(tmp_path) == []


@pytest.mark.anyio
@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json", "video/mp4"])
async def test_wrong_content_type_is_refused(tmp_path: Path, make_image: ImageFactory, content_type: str) -> None:
    async with client(lambda request: image_response(make_image(), content_type)) as http:
        with pytest.raises(DownloadError, match="not an image"):
            await fetch(http, tmp_path / "out.png")
    assert files_under(tmp_path) == []


@pytest.mark.anyio
async def test_generic_binary_type_is_accepted_when_the_content_is_an_image(
    tmp_path: Path, make_image: ImageFactory
) -> None:
    async with client(lambda request: image_response(make_image(), "application/octet-stream")) as http:
        saved = await fetch(http, tmp_path / "out.png")
    assert saved.content_type == "image/png"


@pytest.mark.anyio
async def test_image_type_with_non_image_content_is_refused(tmp_path: Path) -> None:
    async with client(lambda request: image_response(b"<html>Access denied</html>", "image/png")) as http:
        with pytest.raises(DownloadError, match="not an image"):
            await fetch(http, tmp_path / "out.png")
    assert files_under(tmp_path) == []


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "retryable"), [(404, False), (410, False), (429, True), (503, True)])
async def test_http_error_status_is_a_download_error(tmp_path: Path, status: int, retryable: bool) -> None:
    async with client(lambda request: httpx2.Response(status, text="nope")) as http:
        with pytest.raises(DownloadError) as caught:
            await fetch(http, tmp_path / "out.png")
    assert f"HTTP {status}" in str(caught.value)
    assert caught.value.retryable is retryable
    assert "Signature" not in str(caught.value)  # signed query strings stay out of messages


@pytest.mark.anyio
async def test_connection_failure_is_a_retryable_download_error(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    async with client(handler) as http:
        with pytest.raises(DownloadError) as caught:
            await fetch(http, tmp_path / "out.png")
    assert caught.value.retryable


@pytest.mark.anyio
async def test_private_address_is_refused_before_any_request(tmp_path: Path) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return image_response(b"")

    async with client(handler) as http:
        with pytest.raises(DownloadError, match="cloud metadata"):
            await download_to(http, "http://169.254.169.254/latest/a.png", tmp_path / "a.png", max_bytes=MB, timeout=5)
    assert seen == []


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://cdn.example/a.png"])
async def test_non_http_schemes_are_refused(tmp_path: Path, url: str) -> None:
    async with client(lambda request: image_response(b"")) as http:
        with pytest.raises(DownloadError, match="http:// or https://"):
            await download_to(http, url, tmp_path / "a.png", max_bytes=MB, timeout=5)


@pytest.mark.anyio
async def test_redirects_are_followed_and_each_hop_is_checked(tmp_path: Path, make_image: ImageFactory) -> None:
    data = make_image()

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == CDN:
            return httpx2.Response(302, headers={"location": "https://93.184.216.34/final.png"})
        return image_response(data)

    async with client(handler) as http:
        saved = await fetch(http, tmp_path / "out.png")
    assert saved.path.read_bytes() == data


@pytest.mark.anyio
async def test_redirect_to_a_private_address_is_refused(tmp_path: Path) -> None:
    hosts: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        hosts.append(request.url.host)
        return httpx2.Response(307, headers={"location": "http://[::ffff:10.0.0.1]/internal.png"})

    async with client(handler) as http:
        with pytest.raises(DownloadError, match="private"):
            await fetch(http, tmp_path / "out.png")
    assert hosts == [CDN]
    assert files_under(tmp_path) == []


@pytest.mark.anyio
async def test_redirect_loop_stops(tmp_path: Path) -> None:
    async with client(lambda request: httpx2.Response(302, headers={"location": IMAGE_URL})) as http:
        with pytest.raises(DownloadError, match="redirects"):
            await fetch(http, tmp_path / "out.png")


@pytest.mark.anyio
async def test_missing_output_folder_is_a_download_error(tmp_path: Path, make_image: ImageFactory) -> None:
    async with client(lambda request: image_response(make_image())) as http:
        with pytest.raises(DownloadError, match="Could not write the image"):
            await fetch(http, tmp_path / "gone" / "out.png")


@pytest.mark.anyio
async def test_total_timeout_bounds_a_slow_download_and_leaves_no_file(tmp_path: Path) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(100):  # bounded: 100 s if nothing stopped it
            yield b"\x89PNG"
            await anyio.sleep(1)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "image/png"}, content=trickle())

    async with client(handler) as http:
        with pytest.raises(DownloadError) as caught:
            await download_to(
                http, IMAGE_URL, tmp_path / "out.png", max_bytes=MB, timeout=5, allow_hosts=(CDN,), total_timeout=0.05
            )
    assert "took longer than 0.05s" in str(caught.value)
    assert caught.value.retryable
    assert files_under(tmp_path) == []
