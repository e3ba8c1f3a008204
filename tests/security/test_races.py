"""Races: a folder swapped for a symlink between the check and the open, and one file given many times."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from PIL import Image

from runapi_mcp.core.errors import InputError
from runapi_mcp.core.references import read_local_image
from runapi_mcp.sandbox import RunningSandbox, SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from tests.server.helpers import make_settings, text_of


def png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


def swap_before_first_touch(monkeypatch: pytest.MonkeyPatch, target: str, swap: Callable[[], None]) -> None:
    """Make the swap happen after the path checks, just before the file is first stat'ed or opened."""
    real_open, real_stat = os.open, os.stat
    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            swap()

    def racing_open(*args: Any, **kwargs: Any) -> int:
        once()
        return real_open(*args, **kwargs)

    def racing_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if str(path).endswith(target):
            once()
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", racing_open)
    monkeypatch.setattr(os, "stat", racing_stat)


def test_a_parent_folder_swapped_for_a_symlink_after_the_check_cannot_lead_an_upload_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "art").mkdir(parents=True)
    outside.mkdir()
    (project / "art" / "logo.png").write_bytes(png("teal"))
    secret = png("red")
    (outside / "logo.png").write_bytes(secret)

    def swap() -> None:
        (project / "art").rename(project / "art-moved")
        (project / "art").symlink_to(outside)

    swap_before_first_touch(monkeypatch, "logo.png", swap)
    try:
        image = read_local_image("art/logo.png", working_dir=project, roots=(project,), max_bytes=1 << 20)
    except InputError as exc:
        assert "changed" in str(exc)
    else:
        assert image.data != secret, "the upload read a file outside the project"


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(SandboxConfig(latency=0.02, balance_cents=10_000, status_retry_after=0.01)) as sb:
        yield sb


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_sixteen_copies_of_one_file_upload_once(tmp_path: Path, sandbox: RunningSandbox) -> None:
    settings = make_settings(tmp_path, sandbox.url)
    (tmp_path / "project" / "a.png").write_bytes(png("teal"))
    (tmp_path / "project" / "b.png").write_bytes(png("navy"))
    async with Client(build_server(settings)) as client:
        before = sandbox.state.requests["other"]
        one = await client.call_tool("edit_image", {"prompt": "one", "images": ["a.png"], "wait": False})
        per_upload = sandbox.state.requests["other"] - before
        before = sandbox.state.requests["other"]
        many = await client.call_tool(
            "edit_image", {"prompt": "many", "images": ["b.png"] * 8 + ["./b.png"] * 8, "wait": False}
        )
        uploads = sandbox.state.requests["other"] - before
    assert not one.is_error and not many.is_error, (text_of(one), text_of(many))
    assert per_upload > 0 and uploads == per_upload


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_concurrent_follows_of_one_task_save_one_file(tmp_path: Path, sandbox: RunningSandbox) -> None:
    import anyio

    settings = make_settings(tmp_path, sandbox.url)
    async with Client(build_server(settings)) as client:
        made = await client.call_tool("generate_image", {"prompt": "a fox", "wait": False})
        task_id = made.structured_content["tasks"][0]["task_id"]  # pyright: ignore[reportOptionalSubscript]
        results: list[Any] = []

        async def follow() -> None:
            results.append(await client.call_tool("get_task", {"task_id": task_id, "wait": True}))

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(follow)
    assert all(not r.is_error for r in results), [text_of(r) for r in results]
    files = [p for p in (tmp_path / "project").rglob("*.png")]
    assert len(files) == 1, files


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_an_output_folder_swapped_for_a_symlink_after_the_check_receives_nothing_outside(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runapi_mcp.core.service as service

    project, outside = tmp_path / "project", tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    real_resolve = service.resolve_output_dir

    def resolve_then_swap(*args: Any, **kwargs: Any) -> Any:
        folder = real_resolve(*args, **kwargs)
        (project / "out").rename(project / "out-moved")
        (project / "out").symlink_to(outside)
        return folder

    monkeypatch.setattr(service, "resolve_output_dir", resolve_then_swap)
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        result = await client.call_tool("generate_image", {"prompt": "a fox", "output_dir": "out/sub"})
    assert list((outside / "sub").iterdir()) == [], "a result was written outside the project"
    task = result.structured_content["tasks"][0]  # pyright: ignore[reportOptionalSubscript]
    assert task["task_id"], text_of(result)


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_a_saved_result_swapped_for_a_symlink_is_not_served_by_resources_read(
    tmp_path: Path, sandbox: RunningSandbox
) -> None:
    from mcp.shared.exceptions import MCPError

    secret = tmp_path / "secret.txt"
    secret.write_text("the secret")
    async with Client(build_server(make_settings(tmp_path, sandbox.url))) as client:
        made = await client.call_tool("generate_image", {"prompt": "a fox"})
        task = made.structured_content["tasks"][0]  # pyright: ignore[reportOptionalSubscript]
        saved = Path(task["images"][0]["path"])
        saved.unlink()
        saved.symlink_to(secret)
        try:
            read = await client.read_resource(f"runapi://tasks/{task['task_id']}/images/0")
        except MCPError:
            return
    assert "the secret" not in str(read) and "dGhlIHNlY3JldA" not in str(read)
