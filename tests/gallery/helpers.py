"""A task journal made the real way: the real server, against the real sandbox, saving real PNGs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from mcp import Client

from runapi_mcp.core.journal import Journal
from runapi_mcp.gallery.records import open_gallery_journal
from runapi_mcp.sandbox import SandboxConfig, running_sandbox
from runapi_mcp.server import build_server
from runapi_mcp.settings import Settings
from tests.server.helpers import make_settings

PROMPTS = ("a red fox in fresh snow", "a lighthouse at dusk", "a blue teapot, studio photo")
EDIT = "make the teapot green"
PENDING = "a slow dragon made of clouds"


@dataclass(frozen=True)
class MadeJournal:
    settings: Settings
    journal: Path
    images: dict[str, Path]  # task id -> saved file
    pending_task: str


async def make_journal(tmp_path: Path) -> MadeJournal:
    """Five saved images (one prompt asked for two) and one task left pending."""
    images: dict[str, Path] = {}
    async with running_sandbox(SandboxConfig(latency=0.05)) as sandbox:
        settings = make_settings(tmp_path, sandbox.url)
        async with Client(build_server(settings)) as client:
            for prompt in PROMPTS:
                count = 2 if prompt == PROMPTS[1] else 1
                result = await client.call_tool("generate_image", {"prompt": prompt, "count": count})
                for task in (result.structured_content or {})["tasks"]:
                    images[task["task_id"]] = Path(task["images"][0]["path"])
            teapot = list(images)[-1]
            result = await client.call_tool("edit_image", {"prompt": EDIT, "images": [f"task:{teapot}"]})
            task = (result.structured_content or {})["tasks"][0]
            images[task["task_id"]] = Path(task["images"][0]["path"])
            result = await client.call_tool("generate_image", {"prompt": PENDING, "wait": False})
            pending = (result.structured_content or {})["tasks"][0]["task_id"]
    return MadeJournal(settings, settings.state_dir / "journal.sqlite3", images, pending)


@asynccontextmanager
async def opened(made: MadeJournal) -> AsyncIterator[Journal]:
    """The journal the gallery reads, closed afterwards (its engine keeps a connection on its own thread)."""
    journal = open_gallery_journal(made.settings, sandbox=False)
    try:
        yield journal
    finally:
        await journal.close()
