"""Webhook delivery: a POST of the task's final status JSON to its `callback_url`, like a provider would.

- Sent when the task reaches `completed` or `failed`, signed with the account's secret (signing.py).
- Retried on a non-2xx answer or no answer, with exponential backoff (`callback_backoff`, doubled each
  time, at most `callback_backoff_max`), at most `callback_attempts` deliveries; every attempt is logged
  at `GET /_sandbox/callbacks`.
- Only to loopback addresses (`localhost`, 127.0.0.0/8, ::1) unless `callback_any_host` is set: the
  sandbox never calls out to the network by accident. A refused URL is logged; the task is unaffected.
- Faults: `callback-late` (arrives `callback_late_delay` s after the task finished), `callback-duplicate`
  (the same delivery, same body and delivery id, sent twice), `callback-lost` (never sent), and
  `callback-forged` (an extra delivery while the task still runs, claiming it completed, signed with a
  secret that is not the account's).
Deliveries are timed on the sandbox's clock and run on the sandbox's event loop (background.py).
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx2

from runapi_mcp.sandbox.clock import Clock, iso
from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.signing import DELIVERY_HEADER, SIGNATURE_HEADER, new_secret, sign
from runapi_mcp.sandbox.tasks import Task

log = logging.getLogger(__name__)

DeliveryKind = Literal["genuine", "duplicate", "forged"]
DUPLICATE_GAP = 0.05
"""Sandbox seconds between a delivery and its duplicate."""
MAX_LOG = 10_000


@dataclass
class Delivery:
    id: str
    task_id: str
    url: str
    kind: DeliveryKind
    body: bytes
    secret: str
    due: float
    attempt: int = 0


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Callbacks:
    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.secret = config.callback_secret or new_secret()
        self.log: list[dict[str, Any]] = []
        self._queue: list[tuple[float, int, Delivery]] = []
        self._sequence = 0
        self.on_push: Callable[[], None] = lambda: None
        """Called when a delivery is queued, so the background loop wakes for it."""

    # -- planning ---------------------------------------------------------------------------------------

    def task_created(self, task: Task) -> None:
        """A forged callback is planned at create: it arrives while the task still runs."""
        url = task.request.callback_url
        if url is None or "callback-forged" not in task.callback_faults:
            return
        if not (self.config.callback_any_host or is_loopback_url(url)):
            return  # refused, and logged once, when the task finishes
        body = {"id": task.id, "status": "completed", "images": [{"url": f"{task.base_url}/files/forged/forged.png"}]}
        due = task.created_at + (task.done_at - task.created_at) / 2
        self._push(Delivery(uuid.uuid4().hex, task.id, url, "forged", _encode(body), new_secret(), due))

    def task_finished(self, task: Task, status: dict[str, Any]) -> None:
        url = task.request.callback_url
        if url is None or not self._allowed(task, url):
            return
        if "callback-lost" in task.callback_faults:
            self._note(task.id, url, "genuine", 0, "lost (callback-lost fault): never sent")
            return
        due = task.done_at
        if "callback-late" in task.callback_faults:
            late = task.late_callback_seconds
            due += self.config.callback_late_delay if late is None else late
        body = _encode(status)
        delivery_id = uuid.uuid4().hex
        self._push(Delivery(delivery_id, task.id, url, "genuine", body, self.secret, due))
        if "callback-duplicate" in task.callback_faults:
            self._push(Delivery(delivery_id, task.id, url, "duplicate", body, self.secret, due + DUPLICATE_GAP))

    def _allowed(self, task: Task, url: str) -> bool:
        if self.config.callback_any_host or is_loopback_url(url):
            return True
        self._note(
            task.id, url, "genuine", 0, "refused: not a loopback address (the sandbox allows others only when told to)"
        )
        return False

    def _push(self, delivery: Delivery) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (delivery.due, self._sequence, delivery))
        self.on_push()

    # -- sending ----------------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def pop_due(self, now: float) -> list[Delivery]:
        due: list[Delivery] = []
        while self._queue and self._queue[0][0] <= now:
            due.append(heapq.heappop(self._queue)[2])
        return due

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def deliver(self, delivery: Delivery, http: httpx2.AsyncClient) -> None:
        """One attempt; a failed one is queued again after its backoff, until the attempts run out."""
        delivery.attempt += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "runapi-mcp-sandbox",
            SIGNATURE_HEADER: sign(delivery.secret, delivery.body, int(time.time())),
            DELIVERY_HEADER: delivery.id,
        }
        try:
            response = await http.post(delivery.url, content=delivery.body, headers=headers)
        except httpx2.HTTPError as exc:
            outcome, ok = f"no answer ({type(exc).__name__})", False
        else:
            outcome, ok = f"answered {response.status_code}", response.is_success
        self._note(delivery.task_id, delivery.url, delivery.kind, delivery.attempt, outcome, delivery.id)
        if ok or delivery.kind == "forged":
            return
        if delivery.attempt >= self.config.callback_attempts:
            log.warning("callback for task %s gave up after %d attempts", delivery.task_id, delivery.attempt)
            self._note(delivery.task_id, delivery.url, delivery.kind, delivery.attempt, "gave up", delivery.id)
            return
        backoff = min(self.config.callback_backoff_max, self.config.callback_backoff * 2 ** (delivery.attempt - 1))
        delivery.due = self.clock.now() + backoff
        self._push(delivery)

    def _note(
        self, task_id: str, url: str, kind: DeliveryKind, attempt: int, outcome: str, delivery_id: str | None = None
    ) -> None:
        if len(self.log) >= MAX_LOG:
            del self.log[: MAX_LOG // 10]  # bounded: the oldest tenth goes
        self.log.append(
            {
                "task_id": task_id,
                "delivery_id": delivery_id,
                "url": url,
                "kind": kind,
                "attempt": attempt,
                "at": iso(self.clock.now()),
                "outcome": outcome,
            }
        )


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
