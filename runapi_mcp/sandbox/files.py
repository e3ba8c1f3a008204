"""Temporary files: uploaded or registered bytes and rendered outputs, each behind an expiring URL."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from runapi_mcp.sandbox.clock import iso
from runapi_mcp.sandbox.encoding import sniff_image_mime
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.validation import PrepareRequest

FILES_PREFIX = "/files/"
UPLOADS_PREFIX = "/uploads/"


def new_file_id() -> str:
    return secrets.token_hex(16)


@dataclass
class StoredFile:
    id: str
    name: str
    mime_type: str
    size_bytes: int
    created_at: float
    expires_at: float
    data: bytes | None = None
    """None for a task output, which is rendered on first download (and cached)."""
    output_of: str | None = None
    signed_id: str | None = None
    """The upload this file was confirmed from: a repeated confirm answers with the same file."""

    @property
    def path(self) -> str:
        return f"{FILES_PREFIX}{self.id}/{quote(self.name)}"

    def temp_file_json(self, base_url: str) -> dict[str, Any]:
        return {
            "file_name": self.name,
            "url": base_url + self.path,
            "size_bytes": self.size_bytes,
            "mime_type": self.mime_type,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
        }


@dataclass
class PendingUpload:
    signed_id: str
    token: str
    request: PrepareRequest
    content_type: str
    data: bytes | None = None

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-MD5": self.request.checksum}


class FileStore:
    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._files: dict[str, StoredFile] = {}
        self._uploads_by_token: dict[str, PendingUpload] = {}
        self._uploads_by_signed_id: dict[str, PendingUpload] = {}
        self._confirmed: dict[str, str] = {}
        self.on_add: Callable[[StoredFile], None] = lambda stored: None
        """Told of every file added (the state's saver keeps uploaded ones)."""

    def add(
        self,
        name: str,
        mime_type: str,
        now: float,
        *,
        data: bytes | None = None,
        output_of: str | None = None,
        size_bytes: int = 0,
        file_id: str | None = None,
        signed_id: str | None = None,
    ) -> StoredFile:
        file_id = file_id or new_file_id()
        stored = StoredFile(
            id=file_id,
            name=name,
            mime_type=mime_type,
            size_bytes=len(data) if data is not None else size_bytes,
            created_at=now,
            expires_at=now + self._ttl,
            data=data,
            output_of=output_of,
            signed_id=signed_id,
        )
        self._files[file_id] = stored
        self.on_add(stored)
        return stored

    def restore(self, stored: StoredFile) -> None:
        self._files[stored.id] = stored
        if stored.signed_id is not None:
            self._confirmed[stored.signed_id] = stored.id

    def find(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def require(self, file_id: str) -> StoredFile:
        return self._files[file_id]

    def live(self, file_id: str, now: float) -> StoredFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(404, "not_found", "No such file.")
        if now >= stored.expires_at:
            raise ApiError(410, "url_expired", f"This URL expired at {iso(stored.expires_at)}.")
        return stored

    def prepare(self, request: PrepareRequest) -> PendingUpload:
        content_type = request.content_type or mimetypes.guess_type(request.filename)[0] or "application/octet-stream"
        pending = PendingUpload(
            signed_id="sbx_" + secrets.token_urlsafe(24),
            token=secrets.token_urlsafe(24),
            request=request,
            content_type=content_type,
        )
        self._uploads_by_token[pending.token] = pending
        self._uploads_by_signed_id[pending.signed_id] = pending
        return pending

    def pending_upload(self, token: str) -> PendingUpload:
        pending = self._uploads_by_token.get(token)
        if pending is None:
            raise ApiError(404, "not_found", "Unknown or already confirmed upload URL.")
        return pending

    @staticmethod
    def check_upload(pending: PendingUpload, headers: Mapping[str, str], body: bytes) -> None:
        """The PUT must carry exactly the headers prepare handed out, the declared size and checksum, and no key."""
        if "authorization" in headers:
            raise ApiError(
                400,
                "unexpected_authorization",
                "The upload URL is pre-authorized: send it no Authorization header.",
            )
        for name, expected in pending.headers().items():
            if headers.get(name.lower()) != expected:
                raise ApiError(
                    400, "upload_header_mismatch", f"The {name} header must be exactly the value prepare returned."
                )
        if len(body) != pending.request.byte_size:
            raise ApiError(400, "upload_size_mismatch", f"Expected {pending.request.byte_size} bytes, got {len(body)}.")
        digest = base64.b64encode(hashlib.md5(body).digest()).decode()
        if digest != pending.request.checksum:
            raise ApiError(400, "bad_digest", "The uploaded bytes do not match the checksum given to prepare.")

    def confirm(self, signed_id: str, now: float) -> StoredFile:
        if signed_id in self._confirmed:
            return self._files[self._confirmed[signed_id]]
        pending = self._uploads_by_signed_id.get(signed_id)
        if pending is None:
            raise ApiError(404, "not_found", "Unknown signed_id.")
        if pending.data is None:
            raise ApiError(422, "upload_incomplete", "Nothing was uploaded to upload_url yet: PUT the bytes first.")
        mime_type = sniff_image_mime(pending.data) or pending.content_type
        stored = self.add(pending.request.filename, mime_type, now, data=pending.data, signed_id=signed_id)
        del self._uploads_by_token[pending.token]
        del self._uploads_by_signed_id[signed_id]
        self._confirmed[signed_id] = stored.id
        return stored
