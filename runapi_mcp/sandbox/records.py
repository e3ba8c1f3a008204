"""Tasks and uploaded files as the rows the store saves, and back. Bytes travel beside the JSON."""

from __future__ import annotations

from typing import Any, cast

from runapi_mcp.sandbox.files import StoredFile
from runapi_mcp.sandbox.tasks import ExternalSource, InlineSource, OutputSource, SourceRef, Task
from runapi_mcp.sandbox.validation import CreateRequest


def task_row(task: Task, key_counts: tuple[int, int, int] | None) -> tuple[dict[str, Any], list[bytes]]:
    """Everything decided at create (the request, the faults drawn, the schedule, the output's file id), and
    its idempotency key's counts (requests, replays, conflicts)."""
    datas: list[bytes] = []
    sources: list[dict[str, Any]] = []
    for source in task.sources:
        if isinstance(source, InlineSource):
            sources.append({"kind": "inline", "label": source.label, "blob": len(datas)})
            datas.append(source.data)
        elif isinstance(source, OutputSource):
            sources.append({"kind": "output", "task_id": source.task_id})
        else:
            sources.append({"kind": "external", "url": source.url})
    request = task.request
    body: dict[str, Any] = {
        "id": task.id,
        "request": {
            "action": request.action,
            "prompt": request.prompt,
            "aspect_ratio": request.aspect_ratio,
            "output_resolution": request.output_resolution,
            "callback_url": request.callback_url,
            "source_image_urls": list(request.source_image_urls),
        },
        "fingerprint": task.fingerprint,
        "sources": sources,
        "render_key": task.render_key,
        "price_cents": task.price_cents,
        "created_at": task.created_at,
        "done_at": task.done_at,
        "failure": task.failure,
        "idempotency_key": task.idempotency_key,
        "base_url": task.base_url,
        "bad_image": task.bad_image,
        "no_images": task.no_images,
        "callback_faults": sorted(task.callback_faults),
        "late_callback_seconds": task.late_callback_seconds,
        "output_file_id": task.output_file_id,
        "replays": task.replays,
        "key_counts": list(key_counts) if key_counts else None,
    }
    return body, datas


def _source(row: dict[str, Any]) -> SourceRef:
    if row["kind"] == "inline":
        return InlineSource(cast(bytes, row["data"]), str(row["label"]))
    if row["kind"] == "output":
        return OutputSource(str(row["task_id"]))
    return ExternalSource(str(row["url"]))


def task_from_row(row: dict[str, Any]) -> Task:
    request = row["request"]
    return Task(
        id=row["id"],
        request=CreateRequest(
            action=request["action"],
            prompt=request["prompt"],
            aspect_ratio=request["aspect_ratio"],
            output_resolution=request["output_resolution"],
            callback_url=request["callback_url"],
            source_image_urls=tuple(request["source_image_urls"]),
        ),
        fingerprint=row["fingerprint"],
        sources=tuple(_source(source) for source in row["sources"]),
        render_key=row["render_key"],
        price_cents=int(row["price_cents"]),
        created_at=float(row["created_at"]),
        done_at=float(row["done_at"]),
        failure=row["failure"],
        idempotency_key=row["idempotency_key"],
        base_url=row["base_url"],
        bad_image=row["bad_image"],
        no_images=bool(row["no_images"]),
        callback_faults=frozenset(row["callback_faults"]),
        late_callback_seconds=row["late_callback_seconds"],
        output_file_id=row["output_file_id"],
        replays=int(row["replays"]),
    )


def key_counts_from_row(row: dict[str, Any]) -> tuple[int, int, int]:
    counts = row.get("key_counts") or [1, 0, 0]
    return int(counts[0]), int(counts[1]), int(counts[2])


def file_row(stored: StoredFile) -> tuple[dict[str, Any], bytes]:
    body = {
        "id": stored.id,
        "name": stored.name,
        "mime_type": stored.mime_type,
        "created_at": stored.created_at,
        "expires_at": stored.expires_at,
        "signed_id": stored.signed_id,
    }
    return body, stored.data or b""


def file_from_row(row: dict[str, Any], data: bytes) -> StoredFile:
    return StoredFile(
        id=row["id"],
        name=row["name"],
        mime_type=row["mime_type"],
        size_bytes=len(data),
        created_at=float(row["created_at"]),
        expires_at=float(row["expires_at"]),
        data=data,
        signed_id=row.get("signed_id"),
    )
