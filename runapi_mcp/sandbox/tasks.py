"""A sandbox task: what was asked, when it finishes, how it ends, and how its status reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runapi_mcp.runapi.models import CanonicalStatus
from runapi_mcp.sandbox.validation import CreateRequest

MICRO_CENTS_PER_CENT = 1_000_000


@dataclass(frozen=True)
class InlineSource:
    """Bytes known at create: a data: URI or a temporary file's content."""

    data: bytes
    label: str


@dataclass(frozen=True)
class OutputSource:
    """Another task's output: rendered on demand, since outputs are deterministic."""

    task_id: str


@dataclass(frozen=True)
class ExternalSource:
    """An outside URL: the sandbox never fetches it, the edit shows a marked tile instead."""

    url: str


SourceRef = InlineSource | OutputSource | ExternalSource


@dataclass
class Task:
    id: str
    request: CreateRequest
    fingerprint: str
    sources: tuple[SourceRef, ...]
    render_key: str
    price_cents: int
    created_at: float
    done_at: float
    failure: str | None
    """Decided at create (a fault, or a source that could not be read); None means the task completes."""
    idempotency_key: str | None
    base_url: str = ""
    """Where the create arrived: callbacks carry image URLs on this address."""
    bad_image: str | None = None
    """`png` or `jpeg`: the result passes a content sniff but does not decode (a fault)."""
    no_images: bool = False
    """Ends completed and charged with no images (a fault)."""
    callback_faults: frozenset[str] = field(default_factory=frozenset[str])
    late_callback_seconds: float | None = None
    status: CanonicalStatus = "pending"
    output_file_ids: list[str] = field(default_factory=list[str])
    replays: int = 0
    status_reads: int = 0
    """Status requests answered for this task (benchmarks split them into reads before and after done)."""
    early_reads: int = 0
    """Of those, the ones answered before the task finished."""

    @property
    def action(self) -> str:
        return self.request.action

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")

    def status_at(self, now: float) -> CanonicalStatus:
        """Pending for the first third of the latency, then processing (terminal states are set by the state)."""
        if self.finished:
            return self.status
        processing_at = self.created_at + (self.done_at - self.created_at) / 3
        return "processing" if now >= processing_at else "pending"

    def billing(self) -> dict[str, Any]:
        settlement: dict[str, int] | None = None
        refund: dict[str, Any] | None = None
        if self.status == "completed":
            settlement = {
                "charged_amount_cents": self.price_cents,
                "amount_micro_cents": self.price_cents * MICRO_CENTS_PER_CENT,
            }
        elif self.status == "failed":
            refund = {"amount_cents": self.price_cents, "reason": "task_failed"}
        return {"reservation": {"amount_cents": self.price_cents}, "settlement": settlement, "refund": refund}

    def status_json(self, now: float, image_urls: list[str]) -> dict[str, Any]:
        status = self.status_at(now)
        body: dict[str, Any] = {"id": self.id, "status": status}
        if status == "completed":
            # A no-images task is charged like any completed one: the case a client must not pay twice for.
            body["images"] = [{"url": url} for url in image_urls]
            body["usage"] = {"cost": self.price_cents / 100, "generated_images": len(image_urls)}
        elif status == "failed":
            body["error"] = self.failure
            body["usage"] = {"cost": 0.0, "generated_images": 0}
        body["billing"] = self.billing()
        return body
