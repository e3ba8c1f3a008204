"""The viewer app in real Chromium inside a minimal MCP Apps host, wired to the real server and sandbox.

The host renders the `ui://` page the server links from generate_image, in a sandboxed iframe under the
host's default content security policy, and forwards the app's tool calls to the real server.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from runapi_mcp.server.viewer import VIEWER_URI
from tests.browser.conftest import contrast, screenshot_path
from tests.viewer.conftest import Connect

pytestmark = pytest.mark.anyio

HOST_PAGE = Path(__file__).with_name("host.html")
# The policy a host applies to an app that declares none (the MCP Apps specification's default).
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' data:; object-src 'none'; connect-src 'none'"
)
PROMPT = "a copper robot watering tomatoes"


def under_default_csp(html: str) -> str:
    return html.replace("<head>", f'<head><meta http-equiv="Content-Security-Policy" content="{DEFAULT_CSP}">', 1)


def wire(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def open_viewer(browser: Any, client: Client, theme: str) -> tuple[Any, Any, dict[str, Any], list[str]]:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    uri = (tools["generate_image"].meta or {})["ui"]["resourceUri"]
    assert uri == VIEWER_URI
    html = (await client.read_resource(uri)).contents[0].text  # type: ignore[union-attr]
    arguments = {"prompt": PROMPT}
    result = wire(await client.call_tool("generate_image", arguments))

    async def call_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return wire(await client.call_tool(name, args))
        except MCPError as exc:
            return {"content": [{"type": "text", "text": exc.error.message}], "isError": True}

    page = await browser.new_page(viewport={"width": 940, "height": 1080})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None)
    await page.expose_function("mcpCallTool", call_tool)
    await page.set_content(HOST_PAGE.read_text())
    await page.evaluate(
        "s => { window.toolResult = s.result; window.toolInput = s.input; window.hostTheme = s.theme; }",
        {"result": result, "input": arguments, "theme": theme},
    )
    await page.evaluate("html => window.startApp(html)", under_default_csp(html))
    app = page.frame_locator("#app")
    await app.locator("#image").wait_for(state="visible")
    frame = page.frames[1]
    # The full-size image replaces the 512-pixel preview once the app's own tools/call comes back.
    await frame.wait_for_function("() => document.getElementById('image').naturalWidth === 1024")
    return page, frame, result, problems


async def test_viewer_renders_the_result_full_size_and_sends_the_variations_call(
    browser: Any, connect: Connect
) -> None:
    async with connect(apps=True) as client:
        page, frame, result, problems = await open_viewer(browser, client, "light")
        task = result["structuredContent"]["tasks"][0]
        task_id = task["task_id"]
        log = await page.evaluate("window.hostLog")
        init = next(m for m in log if m.get("method") == "ui/initialize")
        assert init["params"]["protocolVersion"] == "2026-01-26" and init["params"]["appInfo"]["name"]
        assert any(m.get("method") == "ui/notifications/initialized" for m in log)
        assert {"name": "viewer_image", "arguments": {"task_id": task_id, "index": 0}} in [
            m["params"] for m in log if m.get("method") == "tools/call"
        ]
        # What the viewer shows: the image alone (no placeholder over it, no strip for one image), its prompt
        # as alt text, and the facts beside it.
        assert await frame.is_hidden("#placeholder") and await frame.is_hidden("#strip")
        assert PROMPT in (await frame.get_attribute("#image", "alt") or "")
        details = await frame.inner_text("#details")
        for fact in (PROMPT, "1024 × 1024", "$0.06", f"task:{task_id}", task["images"][0]["url_expires_at"]):
            assert fact in details
        await page.screenshot(path=str(screenshot_path("viewer.png")))
        for text, behind in (("body", "body"), ("dt", "body"), ("#zoom-level", "body"), ("button", "button")):
            assert await contrast(frame, text, behind) >= 4.5, text

        # Keyboard: the image can be zoomed and fitted again without a mouse.
        fitted = await frame.inner_text("#zoom-level")
        await frame.focus("#stage")
        await frame.press("#stage", "+")
        zoomed = await frame.inner_text("#zoom-level")
        assert int(zoomed.rstrip("%")) > int(fitted.rstrip("%"))
        await frame.press("#stage", "0")
        assert await frame.inner_text("#zoom-level") == fitted

        # Make variations: the app sends the app-only tool call; the host forwards it to the real server.
        await frame.select_option("#count", "3")
        await frame.click("#variations")
        await frame.wait_for_function("() => document.querySelectorAll('#strip li').length === 4", timeout=30_000)
        calls = [m["params"] for m in await page.evaluate("window.hostLog") if m.get("method") == "tools/call"]
        variation = next(c for c in calls if c["name"] == "viewer_variations")
        assert set(variation["arguments"]) == {"task_id", "index", "count", "idempotency_key"}
        assert (variation["arguments"]["task_id"], variation["arguments"]["index"]) == (task_id, 0)
        assert variation["arguments"]["count"] == 3
        assert re.fullmatch(r"viewer-[0-9a-f]{24}", variation["arguments"]["idempotency_key"])
        # The first variation is shown, at full size, fetched by its own viewer_image call.
        await frame.wait_for_function(
            "() => !document.querySelector('#strip li:first-child button').matches('[aria-current=true]')"
        )
        await frame.wait_for_function("() => document.getElementById('image').naturalWidth === 1024")
        shown = await frame.inner_text("#details")
        assert f"task:{task_id}" not in shown

        # Download: handed to the host as the image's own bytes.
        await frame.wait_for_function("() => !document.getElementById('download').disabled")
        await frame.click("#download")
        await page.wait_for_function("() => window.downloads.length === 1")
        resource = (await page.evaluate("window.downloads"))[0]["contents"][0]["resource"]
        new_id = re.search(r"task:([\w-]+)", shown).group(1)  # type: ignore[union-attr]
        saved = (await client.call_tool("viewer_image", {"task_id": new_id})).structured_content or {}
        assert base64.b64decode(resource["blob"]) == Path(saved["path"]).read_bytes()
        assert resource["mimeType"] == "image/png" and resource["uri"].startswith("file:///")

        # Edit with a new instruction: the call names the shown image and the instruction.
        await frame.fill("#instruction", "add a straw hat")
        await frame.click("#edit")
        await frame.wait_for_function("() => document.querySelectorAll('#strip li').length === 5", timeout=30_000)
        calls = [m["params"] for m in await page.evaluate("window.hostLog") if m.get("method") == "tools/call"]
        edit = next(c for c in calls if c["name"] == "viewer_edit")
        assert edit["arguments"]["instruction"] == "add a straw hat" and edit["arguments"]["task_id"] == new_id
        assert problems == []


async def test_viewer_follows_the_host_dark_theme(browser: Any, connect: Connect) -> None:
    async with connect(apps=True) as client:
        page, frame, _, problems = await open_viewer(browser, client, "dark")
        colors = await frame.evaluate(
            "() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color]"
        )
        assert colors == ["rgb(22, 22, 22)", "rgb(240, 240, 240)"]
        for text, behind in (("body", "body"), ("dt", "body"), ("#zoom-level", "body"), ("button", "button")):
            assert await contrast(frame, text, behind) >= 4.5, text
        await page.screenshot(path=str(screenshot_path("viewer-dark.png")))
        assert problems == []


async def test_viewer_shows_the_facts_when_structured_output_is_switched_off(
    browser: Any, tmp_path: Path, sandbox: Any
) -> None:
    from runapi_mcp.server import build_server
    from tests.server.helpers import make_settings
    from tests.viewer.conftest import apps_extension

    settings = make_settings(tmp_path, sandbox.url, RUNAPI_MCP_STRUCTURED_OUTPUT="false")
    async with Client(build_server(settings), extensions=[apps_extension()]) as client:
        _, frame, result, problems = await open_viewer(browser, client, "light")
        assert "structuredContent" not in result  # the viewer found the image through the resource link
        details = await frame.inner_text("#details")
        assert PROMPT in details and "1024 × 1024" in details and "$0.06" in details
        assert problems == []
