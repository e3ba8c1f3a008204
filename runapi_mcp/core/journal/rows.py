"""What a journal row holds, typed: the task, the parameters RunAPI was sent, and the images it made."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from pydantic import BaseModel, ConfigDict

from runapi_mcp.core.journal.states import TaskState
from runapi_mcp.runapi.models import Action

# The owner of every row on a single-user (stdio, or one-key HTTP) server; tenants get a hash of their key.
LOCAL_OWNER = ""

_SPACE = re.compile(r"\s+")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SourceRef(_Frozen):
    """One edit input as RunAPI was sent it."""

    reference: str  # the caller's reference as given; a data: URI only as data:<mime>;sha256=<hex>
    url: str | None = None  # the URL RunAPI got (None only in rows migrated from a journal that lacked it)
    sha256: str | None = None  # of the bytes, for local files and data: URIs


class TaskParams(_Frozen):
    """The parameters that define a task: replays compare them, sidecars and the task resource show them."""

    prompt: str = ""  # empty for a task adopted from RunAPI, whose prompt this server never saw
    aspect_ratio: str | None = None
    output_resolution: str | None = None
    sources: tuple[SourceRef, ...] = ()

    def request(self) -> tuple[str, str | None, str | None, tuple[str, ...]]:
        """What a retry must repeat to be the same request (the URLs may differ: an upload gets a new one)."""
        return (self.prompt, self.aspect_ratio, self.output_resolution, tuple(s.reference for s in self.sources))


class ImageRecord(_Frozen):
    index: int
    url: str | None = None
    url_expires_at: str | None = None
    path: str | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    content_type: str | None = None  # found in the saved content; None when it was never saved
    sha256: str | None = None


class TaskRow(_Frozen):
    owner: str  # LOCAL_OWNER, or a tenant's key hash
    idempotency_key: str
    task_id: str | None
    action: Action
    params: TaskParams
    output_dir: str | None
    status: TaskState
    created_at: float
    updated_at: float
    images: tuple[ImageRecord, ...] = ()
    error: str | None = None
    cost_cents: float | None = None


def stored_reference(reference: str, digest: str | None = None) -> str:
    """The reference as the journal keeps it: as given, but a data: URI by its type and digest, never its payload.
    `digest`, when the caller has it already, is the data: URI's `data_digest`."""
    if reference[:5].lower() != "data:":
        return reference
    header = reference[5:].partition(",")[0]
    mime = header.split(";")[0].strip().lower() or "application/octet-stream"
    return f"data:{mime};sha256={digest or data_digest(reference)}"


def data_digest(uri: str) -> str:
    """The sha256 of a data: URI's bytes (of its text when it is not valid base64: still never the payload)."""
    payload = _SPACE.sub("", uri.partition(",")[2])
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        data = payload.encode()
    return hashlib.sha256(data).hexdigest()
