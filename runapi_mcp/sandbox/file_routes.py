"""Temporary files: create from a URL or base64, the three-step upload, and downloads (outputs included)."""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runapi_mcp.sandbox.encoding import decode_base64, decode_data_uri, extension_for, is_data_uri, sniff_image_mime
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.files import StoredFile
from runapi_mcp.sandbox.http_io import authenticate, base_url, json_limit, origin, read_body, read_json
from runapi_mcp.sandbox.huge import huge_png_async
from runapi_mcp.sandbox.render import render_placeholder_png
from runapi_mcp.sandbox.state import SandboxState
from runapi_mcp.sandbox.task_routes import scoped_fault
from runapi_mcp.sandbox.validation import parse_confirm, parse_file_create, parse_prepare


class FileRoutes:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.config = state.config
        self.json_limit = json_limit(state.config)

    async def create_file(self, request: Request) -> Response:
        authenticate(request, self.config)
        source, file_name = parse_file_create(await read_json(request, self.json_limit))
        now = self.state.now()
        if source.kind == "base64":
            try:
                if is_data_uri(source.value):
                    declared, data = decode_data_uri(source.value)
                else:
                    declared, data = None, decode_base64(source.value)
            except ValueError:
                raise ApiError(422, "validation_failed", "source.data is not valid base64.") from None
            if not data:
                raise ApiError(422, "validation_failed", "source.data is empty.")
            if len(data) > self.config.max_file_bytes:
                raise ApiError(413, "file_too_large", f"The file exceeds {self.config.max_file_bytes} bytes.")
            mime = sniff_image_mime(data) or declared or "application/octet-stream"
            stored = self.state.files.add(file_name or "upload" + extension_for(mime), mime, now, data=data)
        else:
            stored = await self._file_from_url(source.value, file_name, request, now)
        return JSONResponse(stored.temp_file_json(base_url(request)))

    async def _file_from_url(self, url: str, file_name: str | None, request: Request, now: float) -> StoredFile:
        """The sandbox never fetches the network: its own URLs are copied, others become marked placeholders."""
        own_id = self.state.outputs.own_file_id(url, origin(request))
        name = file_name or PurePosixPath(urlsplit(url).path).name or "remote-file"
        if own_id is not None:
            original = self.state.files.find(own_id)
            if original is None or now >= original.expires_at:
                why = "was not found" if original is None else "has expired"
                raise ApiError(422, "source_unavailable", f"Could not download source.url: the URL {why}.")
            data = await self.state.outputs.file_bytes(original)
            return self.state.files.add(file_name or original.name, original.mime_type, now, data=data)
        host = urlsplit(url).hostname or "?"
        label = f"outside image\n{host}\nnot fetched by the sandbox"
        data = await anyio.to_thread.run_sync(render_placeholder_png, label)
        return self.state.files.add(name, "image/png", now, data=data)

    async def prepare_upload(self, request: Request) -> Response:
        authenticate(request, self.config)
        prepare = parse_prepare(await read_json(request, self.json_limit), self.config.max_file_bytes)
        pending = self.state.files.prepare(prepare)
        return JSONResponse(
            {
                "signed_id": pending.signed_id,
                "upload_url": f"{base_url(request)}/uploads/{pending.token}",
                "headers": pending.headers(),
            }
        )

    async def receive_upload(self, request: Request) -> Response:
        pending = self.state.files.pending_upload(request.path_params["token"])
        body = await read_body(request, self.config.max_file_bytes)
        self.state.files.check_upload(pending, request.headers, body)
        pending.data = body
        return Response(status_code=200, headers={"ETag": '"' + hashlib.md5(body).hexdigest() + '"'})

    async def confirm_upload(self, request: Request) -> Response:
        authenticate(request, self.config)
        signed_id = parse_confirm(await read_json(request, self.json_limit))
        stored = self.state.files.confirm(signed_id, self.state.now())
        return JSONResponse(stored.temp_file_json(base_url(request)))

    async def download(self, request: Request) -> Response:
        stored = self.state.files.live(request.path_params["file_id"], self.state.now())
        if request.path_params["name"] != stored.name:
            raise ApiError(404, "not_found", "No such file.")
        fault = scoped_fault(request)
        if fault is not None and fault.kind == "bad-image" and stored.output_of is not None:
            self.state.injected[fault.label] += 1
            image_format = fault.variant or "png"
            data = await self.state.outputs.corrupt_image(self.state.tasks[stored.output_of], image_format)
            mime = "image/jpeg" if image_format == "jpeg" else "image/png"
            return Response(data, media_type=mime, headers={"Cache-Control": "private, no-transform"})
        if fault is not None and fault.huge is not None and stored.output_of is not None:
            self.state.injected[fault.label] += 1
            data = await self.state.outputs.renders.get(fault.huge.cache_key, partial(huge_png_async, fault.huge))
            return Response(data, media_type="image/png", headers={"Cache-Control": "private, no-transform"})
        data = await self.state.outputs.file_bytes(stored)
        return Response(data, media_type=stored.mime_type, headers={"Cache-Control": "private, no-transform"})
