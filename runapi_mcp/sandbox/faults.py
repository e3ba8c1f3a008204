"""Faults on demand: the `X-Sandbox-Fault` header syntax and the scripted queue (the dice are in dice.py).

Syntax of one fault: `KIND[;param=value]...`, values percent-decoded. Kinds, by where they act:
- `none`: no fault (useful in a scripted sequence).
- On any request: a status 400-599, e.g. `429;retry_after=2` (Retry-After in seconds) or
  `429;retry_after_date=2` (Retry-After as an HTTP date that many seconds ahead), `503`, `500`, `502`;
  `drop` (close the connection without a response); `reset` (TCP RST); `lost-response` (handle the
  request fully, so a create commits and charges, then drop the connection); `bad-body[;shape=S]`
  (handle it fully, then answer 200 with a body that is not the contract's: S is `html`, `json`
  (another JSON shape) or `no-id`; an error answer passes through unchanged); `slow-read[;seconds=S]`
  (answer after S seconds).
- On a create, shaping the task: `fail-task[;message=...]` (ends `failed`, refunded); `slow[;seconds=S]`;
  `bad-image[;format=jpeg|png]` (its result passes a content sniff but does not decode: a truncated JPEG,
  or a PNG whose chunk CRCs are valid but whose pixel data is not); `no-images` (ends `completed`,
  charged, with an empty `images` list); `callback-late[;seconds=S]`, `callback-duplicate`,
  `callback-lost`, `callback-forged` (see callbacks.py).
- On a status read, that answer only: `no-images`; `unknown-status[;word=W]`; `empty-status`;
  `tiny-retry-after[;seconds=S]` (Retry-After S, default 0.001).
- On a result download (`GET /files/...`), that answer only: `bad-image[;format=jpeg|png]`;
  `huge-image[;shape=bomb|big][;side=N][;mb=M]` (a real PNG that is huge to decode, see huge.py).
A fault that has no meaning where it lands (e.g. `fail-task` on a status read) changes nothing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import unquote

from runapi_mcp.sandbox.huge import SHAPES, HugeSpec, huge_spec

FaultKind = Literal[
    "none",
    "status",
    "drop",
    "reset",
    "lost-response",
    "bad-body",
    "slow-read",
    "fail-task",
    "slow",
    "bad-image",
    "no-images",
    "unknown-status",
    "empty-status",
    "tiny-retry-after",
    "callback-late",
    "callback-duplicate",
    "callback-lost",
    "callback-forged",
    "huge-image",
]

_PARAMS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "status": frozenset({"retry_after", "retry_after_date", "message"}),
    "drop": frozenset(),
    "reset": frozenset(),
    "lost-response": frozenset(),
    "bad-body": frozenset({"shape"}),
    "slow-read": frozenset({"seconds"}),
    "fail-task": frozenset({"message"}),
    "slow": frozenset({"seconds"}),
    "bad-image": frozenset({"format"}),
    "no-images": frozenset(),
    "unknown-status": frozenset({"word"}),
    "empty-status": frozenset(),
    "tiny-retry-after": frozenset({"seconds"}),
    "callback-late": frozenset({"seconds"}),
    "callback-duplicate": frozenset(),
    "callback-lost": frozenset(),
    "callback-forged": frozenset(),
    "huge-image": frozenset({"shape", "side", "mb"}),
}

_NAMED_KINDS: dict[str, FaultKind] = {name: cast(FaultKind, name) for name in _PARAMS if name != "status"}

# Values a variant parameter may take; the first is the default.
_VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "bad-body": ("shape", ("html", "json", "no-id")),
    "bad-image": ("format", ("png", "jpeg")),
    "huge-image": ("shape", SHAPES),
}

TASK_FAULTS = frozenset(
    {
        "fail-task",
        "slow",
        "bad-image",
        "no-images",
        "callback-late",
        "callback-duplicate",
        "callback-lost",
        "callback-forged",
    }
)
READ_FAULTS = frozenset({"no-images", "unknown-status", "empty-status", "tiny-retry-after"})
UNKNOWN_STATUS_WORDS = ("in_queue", "moderating", "upscaling")

# No closing stop: callers quote it inside sentences of their own.
DEFAULT_FAILURE_MESSAGE = "Image generation failed: the sandbox injected a fail-task fault"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int | None = None
    retry_after: float | None = None
    retry_after_is_date: bool = False
    seconds: float | None = None
    message: str | None = None
    variant: str | None = None
    """bad-body's shape, bad-image's format, huge-image's shape, or unknown-status's word."""
    huge: HugeSpec | None = None

    @property
    def is_task_fault(self) -> bool:
        """Faults that shape the task a create makes, rather than the HTTP exchange."""
        return self.kind in TASK_FAULTS

    @property
    def is_read_fault(self) -> bool:
        """Faults that change one status answer."""
        return self.kind in READ_FAULTS

    @property
    def label(self) -> str:
        """How the tally of injected faults names it."""
        if self.kind != "status":
            return self.kind
        return f"{self.status} (Retry-After date)" if self.retry_after_is_date else str(self.status)


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
    variant: str | None = None
    if kind in _VARIANTS:
        name, allowed = _VARIANTS[kind]
        variant = params.get(name, allowed[0]).lower()
        if variant not in allowed:
            raise ValueError(f"fault {head!r}: {name} must be one of {', '.join(allowed)}")
    elif kind == "unknown-status":
        variant = params.get("word") or UNKNOWN_STATUS_WORDS[0]
        if len(variant) > 64:
            raise ValueError("unknown-status: word must be at most 64 characters")
    huge = huge_spec(variant, params) if kind == "huge-image" else None
    return Fault(kind, status, retry_after, is_date, seconds, params.get("message") or None, variant, huge)


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
