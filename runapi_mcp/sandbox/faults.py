"""Faults on demand: the `X-Sandbox-Fault` header syntax, the scripted queue, and the seeded dice.

Syntax of one fault: `KIND[;param=value]...`, values percent-decoded. Kinds:
- `none`: no fault (useful in a scripted sequence).
- a status 400-599, e.g. `429;retry_after=2` (Retry-After in seconds) or `429;retry_after_date=2`
  (Retry-After as an HTTP date that many seconds ahead), `503`, `500`, `502`.
- `drop`: close the connection without a response (clients see "server disconnected").
- `reset`: reset the connection (TCP RST) without a response.
- `lost-response`: handle the request fully (a create commits and charges), then drop the connection.
- `fail-task[;message=...]`: the created task ends `failed` with that message, and is refunded.
- `slow[;seconds=S]`: the created task takes S seconds (default: the configured slow latency).
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from runapi_mcp.sandbox.config import SandboxConfig

FaultKind = Literal["none", "status", "drop", "reset", "lost-response", "fail-task", "slow"]

_PARAMS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "status": frozenset({"retry_after", "retry_after_date", "message"}),
    "drop": frozenset(),
    "reset": frozenset(),
    "lost-response": frozenset(),
    "fail-task": frozenset({"message"}),
    "slow": frozenset({"seconds"}),
}

_NAMED_KINDS: dict[str, FaultKind] = {
    "none": "none",
    "drop": "drop",
    "reset": "reset",
    "lost-response": "lost-response",
    "fail-task": "fail-task",
    "slow": "slow",
}

DEFAULT_FAILURE_MESSAGE = "Image generation failed (sandbox fault)."


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int | None = None
    retry_after: float | None = None
    retry_after_is_date: bool = False
    seconds: float | None = None
    message: str | None = None

    @property
    def is_task_fault(self) -> bool:
        """Faults that shape the task a create makes, rather than the HTTP exchange."""
        return self.kind in ("fail-task", "slow")


def parse_fault(spec: str) -> Fault:
    """Parse one fault spec; ValueError with a readable reason when it is not one."""
    head, *raw_params = [part.strip() for part in spec.strip().split(";")]
    name = head.lower()
    if name.isdigit():
        status = int(name)
        if not 400 <= status <= 599:
            raise ValueError(f"fault status {status} is not between 400 and 599")
        kind: FaultKind = "status"
    elif name in _NAMED_KINDS:
        kind = _NAMED_KINDS[name]
        status = None
    else:
        raise ValueError(f"unknown fault {head!r}")
    params: dict[str, str] = {}
    for raw in raw_params:
        if not raw:
            continue
        key, sep, value = raw.partition("=")
        key = key.strip().lower()
        if not sep or key not in _PARAMS[kind]:
            raise ValueError(f"fault {head!r} does not take parameter {raw!r}")
        params[key] = unquote(value.strip())
    retry_after: float | None = None
    is_date = False
    if "retry_after" in params and "retry_after_date" in params:
        raise ValueError("give retry_after or retry_after_date, not both")
    for key in ("retry_after", "retry_after_date"):
        if key in params:
            retry_after = _non_negative(params[key], key)
            is_date = key == "retry_after_date"
    seconds = _non_negative(params["seconds"], "seconds") if "seconds" in params else None
    return Fault(kind, status, retry_after, is_date, seconds, params.get("message") or None)


def _non_negative(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number of seconds, at least 0")
    return value


@dataclass
class _Queued:
    spec: str
    fault: Fault
    method: str
    path: str
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


class FaultQueue:
    """Faults scripted through `POST /_sandbox/faults`, handed out in order to the requests they match."""

    def __init__(self) -> None:
        self._entries: list[_Queued] = []

    def push(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Validate every item first, so a bad script queues nothing."""
        parsed: list[_Queued] = []
        for position, item in enumerate(items):
            spec = item.get("fault")
            method = item.get("method", "*")
            path = item.get("path", "*")
            count = item.get("count", 1)
            unknown = set(item) - {"fault", "method", "path", "count"}
            if unknown:
                raise ValueError(f"faults[{position}] has unknown fields: {', '.join(sorted(unknown))}")
            if not isinstance(spec, str) or not isinstance(method, str) or not isinstance(path, str):
                raise ValueError(f"faults[{position}] needs string fault, method and path")
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
                raise ValueError(f"faults[{position}].count must be an integer from 1 to 10000")
            try:
                fault = parse_fault(spec)
            except ValueError as exc:
                raise ValueError(f"faults[{position}]: {exc}") from None
            parsed.append(_Queued(spec, fault, method.upper(), path, count))
        self._entries.extend(parsed)

    def take(self, method: str, path: str) -> Fault | None:
        for entry in self._entries:
            if entry.matches(method, path):
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._entries.remove(entry)
                return entry.fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [
            {"fault": entry.spec, "method": entry.method, "path": entry.path, "count": entry.remaining}
            for entry in self._entries
        ]

    def clear(self) -> None:
        self._entries.clear()


class FaultDice:
    """The configured fault rates, drawn from one seeded RNG so a run can be replayed exactly."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)

    def request_fault(self, *, is_create: bool) -> Fault | None:
        config = self._config
        if config.request_fault_rate == 0:
            return None
        roll = self._rng.random()
        threshold = config.rate_limit_rate
        if roll < threshold:
            return Fault("status", 429, config.retry_after, retry_after_is_date=self._rng.random() < 0.5)
        threshold += config.server_error_rate
        if roll < threshold:
            return Fault("status", self._rng.choice((500, 502, 503)))
        threshold += config.drop_rate
        if roll < threshold:
            return Fault("drop")
        threshold += config.lost_response_rate
        if roll < threshold and is_create:
            return Fault("lost-response")
        return None

    def task_faults(self) -> tuple[bool, bool]:
        """(fails, is_slow) for a newly created task."""
        config = self._config
        fails = config.fail_task_rate > 0 and self._rng.random() < config.fail_task_rate
        slow = config.slow_task_rate > 0 and self._rng.random() < config.slow_task_rate
        return fails, slow
