"""The gallery's ASGI app: every address starts with the access token; GET only; nothing is ever written.

/<token>/                       the page (static HTML, script and style from the package)
/<token>/api/items              the journal's images and tasks as JSON, newest first
/<token>/image/<task_id>/<n>    a saved image, full size
/<token>/thumb/<task_id>/<n>    a small JPEG of it for the grid
"""

from __future__ import annotations

import hmac
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from runapi_mcp.core.errors import InputError, JournalError
from runapi_mcp.core.images import make_preview
from runapi_mcp.core.journal import Journal
from runapi_mcp.gallery.files import ImageFiles, Refused
from runapi_mcp.gallery.records import GalleryItem, gallery_item, gallery_items

log = logging.getLogger(__name__)

THUMB_SIDE = 480
THUMB_CACHE = 256
_STATIC = {
    "": ("index.html", "text/html; charset=utf-8"),
    "gallery.js": ("gallery.js", "text/javascript"),
    "gallery.css": ("gallery.css", "text/css"),
}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in every address: never hand it to another site
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}


@dataclass
class GalleryConfig:
    journal: Journal
    files: ImageFiles
    token: str
    # Host headers this server answers to (set once the port is known): a page on another name that resolves
    # here (DNS rebinding) is refused even before the token is checked.
    allowed_hosts: set[str] = field(default_factory=set[str])


class GalleryApp:
    def __init__(self, config: GalleryConfig) -> None:
        self._config = config
        self._thumbs: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http":
            return
        response = await self._respond(Request(scope, receive))
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        host = request.headers.get("host", "")
        if self._config.allowed_hosts and host not in self._config.allowed_hosts:
            return _text(421, "This gallery answers on its loopback address only; open the address it printed.")
        if request.method not in ("GET", "HEAD"):
            return _text(405, "The gallery is read-only.")
        # Split the raw path: an encoded slash stays inside its segment instead of making a new one.
        raw = request.scope.get("raw_path") or request.url.path.encode()
        segments = [unquote(part) for part in raw.decode("latin-1").split("?", 1)[0].split("/")[1:]]
        if segments == ["favicon.ico"]:
            return Response(status_code=204)  # browsers ask for it unprompted; an error would only be noise
        if not segments or not hmac.compare_digest(segments[0].encode(), self._config.token.encode()):
            return _text(404, "Not found. Open the address with the access token that `runapi-mcp gallery` printed.")
        rest = segments[1:]
        if not rest:
            return Response(status_code=308, headers={"Location": f"/{self._config.token}/"})
        try:
            return await self._route(rest)
        except JournalError as exc:
            return _text(503, str(exc))

    async def _route(self, rest: list[str]) -> Response:
        if len(rest) == 1 and rest[0] in _STATIC:
            name, content_type = _STATIC[rest[0]]
            return Response(
                resources.files("runapi_mcp.gallery").joinpath("static", name).read_bytes(), media_type=content_type
            )
        if rest == ["api", "items"]:
            return await self._items()
        if len(rest) == 3 and rest[0] in ("image", "thumb") and rest[2].isdigit():
            return await self._image(rest[1], int(rest[2]), thumb=rest[0] == "thumb")
        return _text(404, "Not found.")

    async def _items(self) -> Response:
        items = await gallery_items(self._config.journal)
        # One worker thread checks every file: a thousand stat calls, not a thousand thread hops.
        body = await anyio.to_thread.run_sync(lambda: [self._describe(item) for item in items])
        payload = {"items": body, "roots": [str(r) for r in self._config.files.roots]}
        return Response(json.dumps(payload), media_type="application/json")

    def _describe(self, item: GalleryItem) -> dict[str, Any]:
        if item.task_id is None or item.index is None or item.path is None:
            return item.as_json(None, None, None if item.pending else (item.error or "no image was saved"))
        try:
            self._config.files.locate(item.path)
        except Refused as exc:
            return item.as_json(None, None, str(exc))
        where = f"{quote(item.task_id, safe='')}/{item.index}"
        return item.as_json(f"image/{where}", f"thumb/{where}", None)

    async def _image(self, task_id: str, index: int, *, thumb: bool) -> Response:
        item = await gallery_item(self._config.journal, task_id, index)
        if item is None:
            return _text(404, "No such image in the task journal.")
        try:
            image = await anyio.to_thread.run_sync(self._config.files.read, item.path)
        except Refused as exc:
            return _text(404, f"This image cannot be shown: {exc}.")
        if not thumb:
            return Response(image.data, media_type=image.content_type)
        key = (task_id, index, len(image.data))
        if (cached := self._thumbs.get(key)) is None:
            try:
                preview = await anyio.to_thread.run_sync(partial(make_preview, image.data, THUMB_SIDE))
            except InputError as exc:
                return _text(404, str(exc))
            cached = self._thumbs[key] = preview.data
            while len(self._thumbs) > THUMB_CACHE:
                self._thumbs.popitem(last=False)
        return Response(cached, media_type="image/jpeg")


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def static_path(name: str) -> Path:
    """Where a packaged page file lives (for tests and the README)."""
    return Path(str(resources.files("runapi_mcp.gallery").joinpath("static", name)))
