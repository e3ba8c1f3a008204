"""The gallery page in real Chromium, over a journal the real server made against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from runapi_mcp.gallery.cli import gallery_roots, running_gallery
from tests.browser.conftest import contrast, screenshot_path
from tests.gallery.helpers import EDIT, PENDING, PROMPTS, MadeJournal, opened

pytestmark = pytest.mark.anyio


async def loaded_images(page: Any) -> list[int]:
    return await page.eval_on_selector_all(
        "#grid img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0 ? i.naturalWidth : 0)"
    )


async def test_grid_shows_every_journal_image_filters_and_opens_full_size(browser: Any, made: MadeJournal) -> None:
    async with opened(made) as journal, running_gallery(journal, gallery_roots(made.settings)) as gallery:
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        await page.goto(gallery.url)
        await page.wait_for_function("() => document.querySelectorAll('#grid .card').length >= 6")
        await page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#grid img')).every(i => i.complete && i.naturalWidth > 0)"
        )
        # Every image the journal holds is on the grid, each loaded; the pending task has a card that says so.
        assert len(await loaded_images(page)) == len(made.images) == 5
        cards = await page.eval_on_selector_all("#grid .card", "cs => cs.map(c => c.dataset.task)")
        assert set(cards) == {*made.images, made.pending_task}
        assert cards[0] == made.pending_task  # newest first
        pending = page.locator(f"#grid .card[data-task='{made.pending_task}']")
        assert "Pending" in await pending.inner_text() and await pending.locator("img").count() == 0
        assert await page.locator("#count").inner_text() == "6 items"
        await page.screenshot(path=str(screenshot_path("gallery.png")), full_page=True)

        # Filter by text: only the lighthouse pair is left.
        await page.fill("#q", "lighthouse")
        await page.wait_for_function("() => document.querySelectorAll('#grid .card').length === 2")
        assert await page.locator("#count").inner_text() == "2 of 6 items"
        await page.fill("#q", "")
        # Filter by status.
        await page.select_option("#status", "pending")
        await page.wait_for_function("() => document.querySelectorAll('#grid .card').length === 1")
        assert PENDING in await page.locator("#grid").inner_text()
        await page.select_option("#status", "completed")
        await page.wait_for_function("() => document.querySelectorAll('#grid .card').length === 5")
        await page.fill("#q", "green teapot")
        await page.wait_for_function("() => document.querySelectorAll('#grid .card').length === 1")
        assert EDIT in await page.locator("#grid").inner_text()
        await page.fill("#q", "")
        await page.select_option("#status", "")

        # Full-size view, opened from the keyboard: the real file at its real size, with its reference to copy.
        fox = page.locator("#grid .card", has_text=PROMPTS[0]).locator("button.open")
        await fox.focus()
        await page.keyboard.press("Enter")
        await page.wait_for_function("() => document.getElementById('viewer').open")
        await page.wait_for_function("() => document.getElementById('full').naturalWidth > 0")
        assert await page.eval_on_selector("#full", "i => [i.naturalWidth, i.naturalHeight]") == [1024, 1024]
        assert PROMPTS[0] in (await page.get_attribute("#full", "alt") or "")
        details = await page.locator("#details").inner_text()
        assert "task:" in details and "$0.06" in details and "1024×1024" in details
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        await page.click("#copy-ref")
        await page.wait_for_function("() => document.getElementById('copied').textContent.startsWith('Copied')")
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("task:") and copied.removeprefix("task:") in made.images
        await page.click("#copy-path")
        await page.wait_for_function("() => document.getElementById('copied').textContent.includes('path')")
        assert await page.evaluate("navigator.clipboard.readText()") == str(made.images[copied.removeprefix("task:")])
        await page.screenshot(path=str(screenshot_path("gallery-full-size.png")))
        await page.keyboard.press("Escape")
        await page.wait_for_function("() => !document.getElementById('viewer').open")
        assert errors == []


PAIRS = (
    ("body", "body"),
    (".facts", ".card"),
    (".prompt", ".card"),
    ("#count", "body"),
    (".badge.completed", ".card"),
    (".badge.pending", ".card"),
    (".placeholder", ".placeholder"),
)


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_both_colour_schemes_keep_text_contrast_at_aa_or_better(
    browser: Any, made: MadeJournal, scheme: str
) -> None:
    async with opened(made) as journal, running_gallery(journal, gallery_roots(made.settings)) as gallery:
        page = await browser.new_page(color_scheme=scheme)
        await page.goto(gallery.url)
        await page.wait_for_function("() => document.querySelectorAll('#grid .card').length >= 6")
        background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(18, 18, 18)")
        for text, behind in PAIRS:
            assert await contrast(page, text, behind) >= 4.5, (scheme, text)
