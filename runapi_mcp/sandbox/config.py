"""The sandbox's knobs: one frozen object, built by callers (tests, the CLI, `runapi-mcp --sandbox`)."""

from __future__ import annotations

from dataclasses import dataclass

# Maps the CLI's `--fault-rate KIND=P` kinds onto SandboxConfig fields.
FAULT_RATE_FIELDS: dict[str, str] = {
    "429": "rate_limit_rate",
    "5xx": "server_error_rate",
    "drop": "drop_rate",
    "lost-response": "lost_response_rate",
    "fail-task": "fail_task_rate",
    "slow": "slow_task_rate",
}


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox behaves.

    Rates are probabilities in [0, 1] drawn from one RNG seeded with `seed` (reproducible runs):
    the request-level ones (`rate_limit_rate`, `server_error_rate`, `drop_rate`, `lost_response_rate`)
    apply to `/api/` requests and must sum to at most 1; `lost_response_rate` only hits creates.
    `fail_task_rate` and `slow_task_rate` decide a created task's fate independently.
    """

    latency: float = 3.0
    """Seconds from create to a terminal status (pending for the first third, then processing)."""
    balance_cents: int = 1000
    url_ttl: float = 7 * 24 * 3600
    """Lifetime of output and temporary-file URLs, in seconds (RunAPI keeps results 7 days)."""
    accepted_keys: frozenset[str] | None = None
    """None accepts any non-empty bearer key."""
    rate_limit_rate: float = 0.0
    server_error_rate: float = 0.0
    drop_rate: float = 0.0
    lost_response_rate: float = 0.0
    fail_task_rate: float = 0.0
    slow_task_rate: float = 0.0
    slow_task_latency: float = 60.0
    """Seconds a slow task takes instead of `latency`."""
    retry_after: float = 1.0
    """Retry-After (seconds) on injected 429s that don't name their own."""
    seed: int | None = None
    status_retry_after: float | None = None
    """When set, pending/processing status responses carry this Retry-After: RunAPI's poll hint."""
    max_file_bytes: int = 50 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("latency", "url_ttl", "slow_task_latency", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.balance_cents < 0:
            raise ValueError("balance_cents must not be negative")
        if self.max_file_bytes <= 0:
            raise ValueError("max_file_bytes must be positive")
        if self.status_retry_after is not None and self.status_retry_after < 0:
            raise ValueError("status_retry_after must not be negative")
        if self.accepted_keys is not None and not all(key.strip() for key in self.accepted_keys):
            raise ValueError("accepted_keys must not contain empty keys")
        for name in FAULT_RATE_FIELDS.values():
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.request_fault_rate > 1.0:
            raise ValueError("the request-level fault rates must sum to at most 1")

    @property
    def request_fault_rate(self) -> float:
        return self.rate_limit_rate + self.server_error_rate + self.drop_rate + self.lost_response_rate
