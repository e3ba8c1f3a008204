"""Everything the sandbox remembers, and the operations on it. Synchronous between awaits, so one event
loop sees each create, replay and charge as a single step."""

from __future__ import annotations

import hashlib
import heapq
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio.to_thread
from starlette.types import Scope

from runapi_mcp.sandbox.clock import Clock, iso
from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.encoding import decode_data_uri, is_data_uri
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.faults import DEFAULT_FAILURE_MESSAGE, Fault, FaultDice, FaultQueue
from runapi_mcp.sandbox.files import FILES_PREFIX, FileStore, StoredFile
from runapi_mcp.sandbox.ledger import InsufficientCredits, Ledger
from runapi_mcp.sandbox.pricing import price_cents
from runapi_mcp.sandbox.render import RenderSpec, SourceTile, render_png
from runapi_mcp.sandbox.render_cache import RenderCache
from runapi_mcp.sandbox.tasks import ExternalSource, InlineSource, OutputSource, SourceRef, Task
from runapi_mcp.sandbox.validation import CreateRequest

# Closes the client connection of an ASGI scope without a response; True when it could. Set by the
# server runner (uvicorn), since ASGI itself has no way to drop a connection.
ConnectionDropper = Callable[[Scope, bool], bool]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class KeyRecord:
    task_id: str
    fingerprint: str
    requests: int = 1
    replays: int = 0
    conflicts: int = 0


@dataclass(frozen=True)
class Origin:
    """Where a request arrived, so the sandbox can recognise its own URLs among edit sources."""

    base_url: str
    host: str
    port: int


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = Clock()
        self.ledger = Ledger(config.balance_cents)
        self.files = FileStore(config.url_ttl)
        self.faults = FaultQueue()
        self.dice = FaultDice(config)
        self.renders = RenderCache()
        self.tasks: dict[str, Task] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.connection_dropper: ConnectionDropper | None = None
        self._due: list[tuple[float, int, str]] = []
        self._sequence = 0

    # -- time -------------------------------------------------------------------------------------------

    def now(self) -> float:
        """The current time, after finishing every task that is due by it."""
        now = self.clock.now()
        while self._due and self._due[0][0] <= now:
            _, _, task_id = heapq.heappop(self._due)
            self._finish(self.tasks[task_id])
        return now

    def _finish(self, task: Task) -> None:
        if task.failure is not None:
            task.status = "failed"
            self.ledger.refund(task.id, task.done_at)
            return
        task.status = "completed"
        self.ledger.settle(task.id, task.done_at)
        stored = self.files.add(f"{task.id}-0.png", "image/png", task.done_at, output_of=task.id)
        task.output_file_ids.append(stored.id)

    # -- tasks ------------------------------------------------------------------------------------------

    def create_task(
        self,
        request: CreateRequest,
        raw_body: object,
        idempotency_key: str | None,
        fault: Fault | None,
        origin: Origin,
    ) -> tuple[Task, bool]:
        """The task for this create, and whether it is a replay of an earlier one."""
        now = self.now()
        fingerprint = request.action + ":" + json.dumps(raw_body, sort_keys=True, separators=(",", ":"))
        if idempotency_key is not None and idempotency_key in self.keys:
            record = self.keys[idempotency_key]
            record.requests += 1
            if record.fingerprint != fingerprint:
                record.conflicts += 1
                raise ApiError(
                    409,
                    "idempotency_key_reused",
                    "This Idempotency-Key was already used with a different request; use a new key for a new task.",
                    {"X-RunAPI-Task-Id": record.task_id},
                )
            record.replays += 1
            task = self.tasks[record.task_id]
            task.replays += 1
            return task, True

        price = price_cents(request.output_resolution)
        if price > self.ledger.balance_cents:
            raise ApiError(
                402,
                "insufficient_credits",
                f"Insufficient credits: this task needs {price} cents and the balance is "
                f"{self.ledger.balance_cents} cents.",
            )
        sources, failure = self._resolve_sources(request.source_image_urls, origin, now)
        fails, slow = self.dice.task_faults()
        latency = self.config.slow_task_latency if slow else self.config.latency
        if fault is not None and fault.kind == "fail-task":
            failure = failure or fault.message or DEFAULT_FAILURE_MESSAGE
        elif fails:
            failure = failure or DEFAULT_FAILURE_MESSAGE
        if fault is not None and fault.kind == "slow":
            latency = fault.seconds if fault.seconds is not None else self.config.slow_task_latency

        task = Task(
            id=str(uuid.uuid4()),
            request=request,
            fingerprint=fingerprint,
            sources=sources,
            render_key=self._render_key(request, sources),
            price_cents=price,
            created_at=now,
            done_at=now + latency,
            failure=failure,
            idempotency_key=idempotency_key,
        )
        try:
            self.ledger.reserve(task.id, price, now)
        except InsufficientCredits:  # checked above; kept for safety of the invariant
            raise ApiError(402, "insufficient_credits", "Insufficient credits.") from None
        self.tasks[task.id] = task
        if idempotency_key is not None:
            self.keys[idempotency_key] = KeyRecord(task.id, fingerprint)
        self._sequence += 1
        heapq.heappush(self._due, (task.done_at, self._sequence, task.id))
        self.now()
        return task, False

    def task(self, action: str, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None or task.action != action:
            raise ApiError(404, "not_found", f"No {action} task with id {task_id}.")
        return task

    def status_json(self, task: Task, base_url: str) -> dict[str, Any]:
        now = self.now()
        urls = [base_url + self.files.require(file_id).path for file_id in task.output_file_ids]
        return task.status_json(now, urls)

    # -- sources and rendering --------------------------------------------------------------------------

    def _resolve_sources(
        self, urls: tuple[str, ...], origin: Origin, now: float
    ) -> tuple[tuple[SourceRef, ...], str | None]:
        refs: list[SourceRef] = []
        failure: str | None = None
        for index, url in enumerate(urls):
            if is_data_uri(url):
                refs.append(InlineSource(decode_data_uri(url)[1], "data: URI"))
                continue
            file_id = self.own_file_id(url, origin)
            if file_id is None:
                refs.append(ExternalSource(url))
                continue
            stored = self.files.find(file_id)
            if stored is None or now >= stored.expires_at:
                why = "was not found" if stored is None else "has expired"
                failure = failure or f"Could not download source_image_urls[{index}]: the URL {why}."
                refs.append(ExternalSource(url))
            elif stored.output_of is not None:
                refs.append(OutputSource(stored.output_of))
            else:
                refs.append(InlineSource(stored.data or b"", stored.name))
        return tuple(refs), failure

    @staticmethod
    def own_file_id(url: str, origin: Origin) -> str | None:
        parts = urlsplit(url)
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
        except ValueError:
            return None
        host = (parts.hostname or "").lower()
        same_host = host == origin.host.lower() or (host in _LOOPBACK and origin.host.lower() in _LOOPBACK)
        if not same_host or port != origin.port or not parts.path.startswith(FILES_PREFIX):
            return None
        file_id = unquote(parts.path[len(FILES_PREFIX) :]).split("/", 1)[0]
        return file_id or None

    def _render_key(self, request: CreateRequest, sources: tuple[SourceRef, ...]) -> str:
        digests: list[str] = []
        for source in sources:
            if isinstance(source, InlineSource):
                digests.append("bytes:" + hashlib.sha256(source.data).hexdigest())
            elif isinstance(source, OutputSource):
                digests.append("output:" + self.tasks[source.task_id].render_key)
            else:
                digests.append("url:" + source.url)
        material = [request.action, request.prompt, request.aspect_ratio, request.output_resolution, digests]
        return hashlib.sha256(json.dumps(material).encode()).hexdigest()

    async def output_png(self, task: Task) -> bytes:
        async def build() -> bytes:
            tiles = [await self._tile(source) for source in task.sources]
            spec = RenderSpec(
                action=task.action,
                prompt=task.request.prompt,
                aspect_ratio=task.request.aspect_ratio,
                output_resolution=task.request.output_resolution,
                sources=tuple(tiles),
            )
            return await anyio.to_thread.run_sync(render_png, spec)

        return await self.renders.get(task.render_key, build)

    async def _tile(self, source: SourceRef) -> SourceTile:
        if isinstance(source, InlineSource):
            return SourceTile(source.data, source.label)
        if isinstance(source, OutputSource):
            return SourceTile(await self.output_png(self.tasks[source.task_id]), "earlier output")
        host = urlsplit(source.url).hostname or "?"
        return SourceTile(None, f"outside image\n{host}\nnot fetched by the sandbox")

    async def file_bytes(self, stored: StoredFile) -> bytes:
        if stored.data is not None:
            return stored.data
        if stored.output_of is None:
            raise RuntimeError(f"file {stored.id} has neither bytes nor a task")
        return await self.output_png(self.tasks[stored.output_of])

    # -- inspection -------------------------------------------------------------------------------------

    def ledger_json(self) -> dict[str, Any]:
        now = self.now()
        tasks = list(self.tasks.values())
        statuses = [task.status_at(now) for task in tasks]
        entries = self.ledger.entries
        return {
            "now": iso(now),
            "totals": {
                **self.ledger.totals(),
                "tasks": len(tasks),
                "completed": statuses.count("completed"),
                "failed": statuses.count("failed"),
                "in_progress": statuses.count("pending") + statuses.count("processing"),
                "replays": sum(task.replays for task in tasks),
            },
            "tasks": [
                {
                    "id": task.id,
                    "action": task.action,
                    "status": status,
                    "idempotency_key": task.idempotency_key,
                    "price_cents": task.price_cents,
                    "reserved_cents": task.price_cents,
                    "charged_cents": self.ledger.charged_cents(task.id),
                    "refunded_cents": task.price_cents if status == "failed" else 0,
                    "charges": sum(1 for e in entries if e.task_id == task.id and e.kind == "settlement"),
                    "replays": task.replays,
                    "created_at": iso(task.created_at),
                }
                for task, status in zip(tasks, statuses, strict=True)
            ],
            "charges": [entry.as_json() for entry in entries],
            "idempotency_keys": {
                key: {
                    "task_id": record.task_id,
                    "requests": record.requests,
                    "replays": record.replays,
                    "conflicts": record.conflicts,
                    "tasks_created": 1,
                }
                for key, record in self.keys.items()
            },
        }
