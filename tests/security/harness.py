"""One server for many hostile calls: the sandbox, our server on streamable HTTP and an MCP session over
it run in a portal thread, so a hypothesis test (synchronous) can make hundreds of calls against them.

The workspace has a project (the only allowed root), an `outside` folder with a real image and a secret,
and traps inside the project: symlinks leading outside, a text file named .png, an empty file, a FIFO, an
oversized image. Every request the server sends is recorded, to prove nothing leaves the machine.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx2
from mcp import Client
from mcp.types import CallToolResult
from PIL import Image

from runapi_mcp.sandbox import RunningSandbox
from tests.support.environments import http_settings
from tests.support.mcp_http import mcp_client, serving, text_of
from tests.support.sandboxes import sandbox_in_loop

MAX_INPUT_MB = "0.05"  # 52 KB: an oversized image is cheap to make


def png(side: int = 16, noise: bool = False) -> bytes:
    image = Image.effect_noise((side, side), 80).convert("RGB") if noise else Image.new("RGB", (side, side), "teal")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class RecordingTransport(httpx2.AsyncBaseTransport):
    """The server's only way out: every request it sends passes here."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.requests: list[tuple[str, str, int | None, str]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append((request.method, request.url.host, request.url.port, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Workspace:
    root: Path
    project: Path
    outside: Path
    state: Path

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Every file and folder outside the project and the state folder, and every file inside the project."""
        seen: dict[str, tuple[int, int]] = {}
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder)
            if here == self.state:
                dirs.clear()
                continue
            in_project = here == self.project or self.project in here.parents
            names = files if in_project else files + dirs
            for name in names:
                if here / name in (self.project, self.state):
                    continue  # the allowed root itself (its contents are listed) and the server's own state
                info = (here / name).lstat()
                seen[str((here / name).relative_to(self.root))] = (info.st_size, info.st_mtime_ns)
        return seen


def make_workspace(root: Path) -> Workspace:
    project, outside = root / "project", root / "outside"
    project.mkdir()
    outside.mkdir()
    (outside / "secret.png").write_bytes(png())
    (outside / "secret.txt").write_text("the neighbour's secret\n")
    (project / "ok.png").write_bytes(png())
    (project / "notes.txt").write_text("not an image\n")
    (project / "fake.png").write_text("<html>not a png</html>\n")
    (project / "empty.png").write_bytes(b"")
    (project / "big.png").write_bytes(png(400, noise=True))
    (project / "folder.png").mkdir()
    os.mkfifo(project / "pipe.png")
    (project / "escape").symlink_to(outside, target_is_directory=True)
    (project / "link.png").symlink_to(outside / "secret.png")
    (project / "dangling.png").symlink_to(root / "nowhere" / "x.png")
    return Workspace(root, project, outside, root / "state")


@dataclass(repr=False)
class Harness:
    portal: anyio.from_thread.BlockingPortal
    client: Client
    sandbox: RunningSandbox
    recorder: RecordingTransport
    workspace: Workspace

    def call(self, tool: str, arguments: Any) -> CallToolResult:
        return self.portal.call(self.client.call_tool, tool, arguments)

    def tasks_made(self) -> int:
        return self.portal.call(self._tasks_made)

    async def _tasks_made(self) -> int:
        return len(self.sandbox.state.tasks)

    def posts(self) -> list[tuple[str, str, int | None, str]]:
        return [r for r in self.recorder.requests if r[0] != "GET"]

    def foreign_requests(self) -> list[tuple[str, str, int | None, str]]:
        ours = (self.sandbox.host, self.sandbox.port)
        return [r for r in self.recorder.requests if (r[1], r[2]) != ours]


@contextmanager
def hostile_harness(root: Path, **env: str) -> Iterator[Harness]:
    workspace = make_workspace(root)
    with ExitStack() as stack:
        portal = stack.enter_context(anyio.from_thread.start_blocking_portal(backend="asyncio"))
        sandbox = stack.enter_context(
            portal.wrap_async_context_manager(sandbox_in_loop(latency=0.05, balance_cents=100_000))
        )
        settings = http_settings(root, sandbox.url, RUNAPI_MCP_MAX_INPUT_MB=MAX_INPUT_MB, **env)
        recorder = RecordingTransport()
        url = stack.enter_context(portal.wrap_async_context_manager(serving(settings, transport=recorder)))
        client = stack.enter_context(portal.wrap_async_context_manager(mcp_client(url)))
        yield Harness(portal, client, sandbox, recorder, workspace)


def error_text(result: CallToolResult) -> str:
    assert result.is_error, f"expected an error, got: {text_of(result)[:500]}"
    return text_of(result)
