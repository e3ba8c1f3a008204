"""How often and how patiently a retryable request is repeated."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import RunAPIError


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a retryable request is repeated."""

    max_retries: int = 3  # retries after the first attempt
    base_delay: float = 0.5
    max_delay: float = 5.0  # cap for backoff (Retry-After may exceed it up to max_retry_after)
    max_retry_after: float = 30.0  # a Retry-After longer than this is not waited for: raise instead
    # Returns a number in [0, 1); replaceable so tests can make jitter deterministic.
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy values must not be negative")

    def backoff(self, retry: int) -> float:
        """Delay before retry number `retry` (0 for the first): exponential, full jitter above base_delay."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry)
        floor = min(self.base_delay, ceiling)
        return floor + (ceiling - floor) * self.jitter()

    def delay_before(self, retry: int, error: RunAPIError) -> float | None:
        """Seconds to wait before retrying after `error`, or None when it should be raised instead."""
        if not error.retryable or retry >= self.max_retries:
            return None
        if error.retry_after is None:
            return self.backoff(retry)
        return error.retry_after if error.retry_after <= self.max_retry_after else None
