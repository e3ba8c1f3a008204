"""Real Chromium (Debian's system build), driven by Playwright. CI installs it in .ci/run; there the browser
tests must run, so a missing browser fails them. Elsewhere they skip and say what to install."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.gallery.helpers import MadeJournal, make_journal
from tests.viewer.conftest import connect, sandbox, settings  # noqa: F401  (fixtures the viewer tests share)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    candidate = os.environ.get("RUNAPI_MCP_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if Path(candidate).is_file() else None


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run installs it, so CI must not skip the browser tests")
    pytest.skip(f"{reason} (apt-get install -y chromium; pip install playwright)")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
        raise
    executable = chromium_path()
    if executable is None:
        _missing("no Chromium at /usr/bin/chromium")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def screenshot_path(name: str) -> Path:
    """Screenshots are test artifacts, written to a temporary folder; RUNAPI_MCP_TEST_SCREENSHOTS names another
    (tests/browser/screenshots refreshes the README's images), so an ordinary run leaves the checkout alone."""
    folder = Path(
        os.environ.get("RUNAPI_MCP_TEST_SCREENSHOTS") or Path(tempfile.gettempdir()) / "runapi-mcp-screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


@pytest.fixture
async def made(tmp_path: Path) -> MadeJournal:
    return await make_journal(tmp_path)


# WCAG 2 contrast ratio of an element's text colour against a background colour, computed in the page.
CONTRAST_JS = """([selector, backgroundSelector]) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => [r, g, b].map(channel)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const fg = lum(rgb(getComputedStyle(document.querySelector(selector)).color));
  const bg = lum(rgb(getComputedStyle(document.querySelector(backgroundSelector)).backgroundColor));
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""


async def contrast(frame: Any, selector: str, background: str) -> float:
    return await frame.evaluate(CONTRAST_JS, [selector, background])
