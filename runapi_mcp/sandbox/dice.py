"""The configured fault rates and duration spread, drawn from seeded RNGs so a run can be replayed exactly.

A rate of 0 draws nothing, so turning a new fault on leaves the draws of a run without it unchanged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from runapi_mcp.sandbox.config import SandboxConfig
from runapi_mcp.sandbox.faults import UNKNOWN_STATUS_WORDS, Fault

CALLBACK_FAULTS = ("callback-late", "callback-duplicate", "callback-lost", "callback-forged")


@dataclass(frozen=True)
class TaskFaults:
    """What the dice decided for a new task."""

    fails: bool = False
    slow: bool = False
    bad_image: str | None = None
    """The corrupt format of its result (`png` or `jpeg`), or None."""
    no_images: bool = False
    callbacks: frozenset[str] = field(default_factory=frozenset[str])


class FaultDice:
    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        # Durations come from their own stream, so a spread does not shift the fault draws.
        self._durations = random.Random(None if config.seed is None else f"durations-{config.seed}")

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

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
        if roll < threshold:
            return Fault("lost-response") if is_create else None
        threshold += config.bad_body_rate
        if roll < threshold and is_create:
            return Fault("bad-body", variant=self._rng.choice(("html", "json", "no-id")))
        return None

    def read_fault(self) -> Fault | None:
        """At most one fault for a status read."""
        config = self._config
        if config.read_fault_rate == 0:
            return None
        roll = self._rng.random()
        threshold = config.slow_read_rate
        if roll < threshold:
            return Fault("slow-read", seconds=config.slow_read_delay)
        threshold += config.tiny_retry_after_rate
        if roll < threshold:
            return Fault("tiny-retry-after", seconds=config.tiny_retry_after)
        threshold += config.unknown_status_rate
        if roll < threshold:
            return Fault("unknown-status", variant=self._rng.choice(UNKNOWN_STATUS_WORDS))
        threshold += config.empty_status_rate
        if roll < threshold:
            return Fault("empty-status")
        return None

    def task_faults(self, *, has_callback: bool) -> TaskFaults:
        config = self._config
        fails = self._roll(config.fail_task_rate)
        slow = self._roll(config.slow_task_rate)
        bad_image = self._rng.choice(("png", "jpeg")) if self._roll(config.bad_image_rate) else None
        no_images = self._roll(config.no_images_rate)
        callbacks: set[str] = set()
        if has_callback:
            rates = (
                config.callback_late_rate,
                config.callback_duplicate_rate,
                config.callback_lost_rate,
                config.callback_forged_rate,
            )
            callbacks = {kind for kind, rate in zip(CALLBACK_FAULTS, rates, strict=True) if self._roll(rate)}
        return TaskFaults(fails, slow, bad_image, no_images, frozenset(callbacks))

    def duration(self, resolution: str | None = None) -> float:
        """A task's duration in sandbox seconds: from the spread when one is set, else the fixed latency."""
        spread = self._config.task_durations
        return spread.draw(self._durations, resolution) if spread is not None else self._config.latency
