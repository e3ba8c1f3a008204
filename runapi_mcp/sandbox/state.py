"""Everything the sandbox remembers, and the operations on it. Synchronous between awaits, so one event
loop sees each create, replay and charge as a single step."""

from __future__ import annotations

import heapq
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.types import Scope

from runapi_mcp.sandbox.callbacks import Callbacks
from runapi_mcp.sandbox.clock import Clock
from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.dice import FaultDice, TaskFaults
from runapi_mcp.sandbox.errors import ApiError
from runapi_mcp.sandbox.faults import DEFAULT_FAILURE_MESSAGE, Fault, FaultQueue
from runapi_mcp.sandbox.files import FileStore
from runapi_mcp.sandbox.ledger import InsufficientCredits, Ledger
from runapi_mcp.sandbox.origin import Origin
from runapi_mcp.sandbox.outputs import Outputs
from runapi_mcp.sandbox.pricing import price_cents
from runapi_mcp.sandbox.tasks import Task
from runapi_mcp.sandbox.validation import CreateRequest

# Closes the client connection of an ASGI scope without a response; True when it could. Set by the
# server runner (uvicorn), since ASGI itself has no way to drop a connection.
ConnectionDropper = Callable[[Scope, bool], bool]

__all__ = ["ConnectionDropper", "KeyRecord", "Origin", "SandboxState"]


@dataclass
class KeyRecord:
    task_id: str
    fingerprint: str
    requests: int = 1
    replays: int = 0
    conflicts: int = 0


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = Clock(config.time_scale)
        self.ledger = Ledger(config.balance_cents)
        self.files = FileStore(config.url_ttl)
        self.faults = FaultQueue()
        self.dice = FaultDice(config)
        self.tasks: dict[str, Task] = {}
        self.outputs = Outputs(self.files, self.tasks)
        self.callbacks = Callbacks(config, self.clock)
        self.callbacks.on_push = self.wake
        self.keys: dict[str, KeyRecord] = {}
        self.injected: Counter[str] = Counter()
        """Every fault injected, by label: what a soak reports against."""
        self.requests: Counter[str] = Counter()
        """Requests by kind (create, status, download, control, other)."""
        self.connection_dropper: ConnectionDropper | None = None
        self._due: list[tuple[float, int, str]] = []
        self._sequence = 0
        self._wake: anyio.Event | None = None

    # -- time -------------------------------------------------------------------------------------------

    def now(self) -> float:
        """The current time, after finishing every task that is due by it."""
        now = self.clock.now()
        while self._due and self._due[0][0] <= now:
            _, _, task_id = heapq.heappop(self._due)
            self._finish(self.tasks[task_id])
        return now

    def next_due(self) -> float | None:
        """When the next task finishes or the next callback is due (sandbox time), if ever."""
        candidates = (self._due[0][0] if self._due else None, self.callbacks.next_due())
        moments = [moment for moment in candidates if moment is not None]
        return min(moments, default=None)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.wake()

    def wake(self) -> None:
        """Tell the background loop (callbacks) that something new may be due."""
        if self._wake is not None:
            self._wake.set()

    async def sleep_until_due(self, longest: float) -> None:
        self._wake = anyio.Event()
        due = self.next_due()
        delay = longest if due is None else min(longest, self.clock.wall_delay(due))
        with anyio.move_on_after(delay):
            await self._wake.wait()

    def _finish(self, task: Task) -> None:
        if task.failure is not None:
            task.status = "failed"
            self.ledger.refund(task.id, task.done_at)
        else:
            task.status = "completed"
            self.ledger.settle(task.id, task.done_at)
            if not task.no_images:
                name, mime = (
                    (f"{task.id}-0.jpg", "image/jpeg")
                    if task.bad_image == "jpeg"
                    else (f"{task.id}-0.png", "image/png")
                )
                stored = self.files.add(name, mime, task.done_at, output_of=task.id)
                task.output_file_ids.append(stored.id)
        self.callbacks.task_finished(task, task.status_json(task.done_at, self.image_urls(task, task.base_url)))

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
            return self._replay(idempotency_key, fingerprint), True

        price = price_cents(request.output_resolution)
        if price > self.ledger.balance_cents:
            raise ApiError(
                402,
                "insufficient_credits",
                f"Insufficient credits: this task needs {price} cents and the balance is "
                f"{self.ledger.balance_cents} cents.",
            )
        sources, failure = self.outputs.resolve_sources(request.source_image_urls, origin, now)
        rolled = self.dice.task_faults(has_callback=request.callback_url is not None)
        task = Task(
            id=str(uuid.uuid4()),
            request=request,
            fingerprint=fingerprint,
            sources=sources,
            render_key=self.outputs.render_key(request, sources),
            price_cents=price,
            created_at=now,
            done_at=now,
            failure=failure,
            idempotency_key=idempotency_key,
            base_url=origin.base_url,
        )
        self._shape(task, rolled, fault if fault is not None and fault.is_task_fault else None)
        try:
            self.ledger.reserve(task.id, price, now)
        except InsufficientCredits:  # checked above; kept for safety of the invariant
            raise ApiError(402, "insufficient_credits", "Insufficient credits.") from None
        self.tasks[task.id] = task
        if idempotency_key is not None:
            self.keys[idempotency_key] = KeyRecord(task.id, fingerprint)
        self._sequence += 1
        heapq.heappush(self._due, (task.done_at, self._sequence, task.id))
        self.callbacks.task_created(task)
        self.wake()
        self.now()
        return task, False

    def _replay(self, idempotency_key: str, fingerprint: str) -> Task:
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
        return task

    def _shape(self, task: Task, rolled: TaskFaults, fault: Fault | None) -> None:
        """Apply the dice's and the request's task faults: duration, failure, result and callback faults."""
        latency = self.config.slow_task_latency if rolled.slow else self.dice.duration(task.request.output_resolution)
        fails = rolled.fails
        callback_faults = set(rolled.callbacks)
        task.bad_image, task.no_images = rolled.bad_image, rolled.no_images
        if fault is not None:
            self.injected[fault.label] += 1
            if fault.kind == "fail-task":
                task.failure = task.failure or fault.message or DEFAULT_FAILURE_MESSAGE
            elif fault.kind == "slow":
                latency = fault.seconds if fault.seconds is not None else self.config.slow_task_latency
            elif fault.kind == "bad-image":
                task.bad_image = fault.variant or "png"
            elif fault.kind == "no-images":
                task.no_images = True
            else:
                callback_faults.add(fault.kind)
                if fault.kind == "callback-late":
                    task.late_callback_seconds = fault.seconds
        if fails:
            task.failure = task.failure or DEFAULT_FAILURE_MESSAGE
        rolled_labels = {
            "fail-task": fails,
            "slow": rolled.slow,
            "bad-image": rolled.bad_image is not None,
            "no-images": rolled.no_images,
        }
        self.injected.update([label for label, happened in rolled_labels.items() if happened])
        self.injected.update(rolled.callbacks)
        task.callback_faults = frozenset(callback_faults if task.request.callback_url else ())
        task.done_at = task.created_at + latency

    def task(self, action: str, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None or task.action != action:
            raise ApiError(404, "not_found", f"No {action} task with id {task_id}.")
        return task

    def image_urls(self, task: Task, base_url: str) -> list[str]:
        return [base_url + self.files.require(file_id).path for file_id in task.output_file_ids]

    def status_json(self, task: Task, base_url: str) -> dict[str, Any]:
        """The status answer for a read of `task` now, counted as one read of it."""
        now = self.now()
        task.status_reads += 1
        task.early_reads += now < task.done_at
        return task.status_json(now, self.image_urls(task, base_url))
