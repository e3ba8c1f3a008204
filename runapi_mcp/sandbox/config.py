"""The sandbox's knobs: one frozen object, built by callers (tests, the CLI, `runapi-mcp --sandbox`).

Every duration is in sandbox seconds. With `time_scale` K the sandbox's clock runs K times faster than
wall time, so a 60 s task takes 60 / K wall seconds; Retry-After hints and callback times are sent in
wall seconds, so they stay consistent with what a client sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from runapi_mcp.sandbox.durations import DurationSpread

# Maps the CLI's `--fault-rate KIND=P` kinds onto SandboxConfig fields.
FAULT_RATE_FIELDS: dict[str, str] = {
    "429": "rate_limit_rate",
    "5xx": "server_error_rate",
    "drop": "drop_rate",
    "lost-response": "lost_response_rate",
    "bad-body": "bad_body_rate",
    "fail-task": "fail_task_rate",
    "slow": "slow_task_rate",
    "bad-image": "bad_image_rate",
    "no-images": "no_images_rate",
    "slow-read": "slow_read_rate",
    "tiny-retry-after": "tiny_retry_after_rate",
    "unknown-status": "unknown_status_rate",
    "empty-status": "empty_status_rate",
    "callback-late": "callback_late_rate",
    "callback-duplicate": "callback_duplicate_rate",
    "callback-lost": "callback_lost_rate",
    "callback-forged": "callback_forged_rate",
}

# One roll per request picks at most one of these (so each group must sum to at most 1).
REQUEST_RATES = ("rate_limit_rate", "server_error_rate", "drop_rate", "lost_response_rate", "bad_body_rate")
READ_RATES = ("slow_read_rate", "tiny_retry_after_rate", "unknown_status_rate", "empty_status_rate")


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox behaves.

    Rates are probabilities in [0, 1] drawn from one RNG seeded with `seed` (reproducible runs):
    - per `/api/` request, one roll among `REQUEST_RATES`; `lost_response_rate` and `bad_body_rate`
      only hit creates;
    - per status read, one roll among `READ_RATES`;
    - per created task, independent rolls for `fail_task_rate`, `slow_task_rate`, `bad_image_rate`,
      `no_images_rate`, and (when it has a `callback_url`) each `callback_*_rate`.
    """

    latency: float = 3.0
    """Seconds from create to a terminal status (pending for the first third, then processing)."""
    task_durations: DurationSpread | None = None
    """When set, each task's duration is drawn from this spread instead of `latency`."""
    time_scale: float = 1.0
    """Sandbox seconds per wall second: 40 runs a 60 s task in 1.5 s of wall time."""
    balance_cents: int = 1000
    url_ttl: float = 7 * 24 * 3600
    """Lifetime of output and temporary-file URLs, in seconds (RunAPI keeps results 7 days)."""
    accepted_keys: frozenset[str] | None = None
    """None accepts any non-empty bearer key."""
    rate_limit_rate: float = 0.0
    server_error_rate: float = 0.0
    drop_rate: float = 0.0
    lost_response_rate: float = 0.0
    bad_body_rate: float = 0.0
    fail_task_rate: float = 0.0
    slow_task_rate: float = 0.0
    bad_image_rate: float = 0.0
    no_images_rate: float = 0.0
    slow_read_rate: float = 0.0
    tiny_retry_after_rate: float = 0.0
    unknown_status_rate: float = 0.0
    empty_status_rate: float = 0.0
    callback_late_rate: float = 0.0
    callback_duplicate_rate: float = 0.0
    callback_lost_rate: float = 0.0
    callback_forged_rate: float = 0.0
    slow_task_latency: float = 60.0
    """Seconds a slow task takes instead of `latency`."""
    slow_read_delay: float = 4.0
    """Seconds a slow status read waits before answering: near a caller's 5 s wait budget."""
    tiny_retry_after: float = 0.001
    """The Retry-After a `tiny-retry-after` fault puts on a status answer."""
    retry_after: float = 1.0
    """Retry-After (seconds) on injected 429s that don't name their own."""
    seed: int | None = None
    status_retry_after: float | None = None
    """When set, pending/processing status responses carry this Retry-After: RunAPI's poll hint."""
    max_file_bytes: int = 50 * 1024 * 1024
    callback_secret: str | None = None
    """The account's callback signing secret; None makes a random one at start (the CLI prints it)."""
    callback_any_host: bool = False
    """Deliver callbacks to any host; by default only to loopback addresses."""
    callback_attempts: int = 5
    """Deliveries of one callback at most (the first and its retries) on non-2xx or no answer."""
    callback_backoff: float = 1.0
    """Seconds before the first retry; doubled each time, at most `callback_backoff_max`."""
    callback_backoff_max: float = 30.0
    callback_timeout: float = 5.0
    """Wall seconds one delivery may take."""
    callback_late_delay: float = 30.0
    """Seconds after the task finished that a late callback arrives."""

    def __post_init__(self) -> None:
        for name in (
            "latency",
            "url_ttl",
            "slow_task_latency",
            "slow_read_delay",
            "tiny_retry_after",
            "retry_after",
            "callback_backoff",
            "callback_backoff_max",
            "callback_late_delay",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not self.time_scale > 0 or self.time_scale == float("inf"):
            raise ValueError("time_scale must be a positive number")
        if not self.callback_timeout > 0:
            raise ValueError("callback_timeout must be positive")
        if not 1 <= self.callback_attempts <= 20:
            raise ValueError("callback_attempts must be from 1 to 20")
        if self.callback_secret is not None and not self.callback_secret.strip():
            raise ValueError("callback_secret must not be empty")
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
        if self.read_fault_rate > 1.0:
            raise ValueError("the status-read fault rates must sum to at most 1")

    @property
    def request_fault_rate(self) -> float:
        return sum(getattr(self, name) for name in REQUEST_RATES)

    @property
    def read_fault_rate(self) -> float:
        return sum(getattr(self, name) for name in READ_RATES)

    def wall_seconds(self, seconds: float) -> float:
        """Sandbox seconds as the wall seconds a client waits for them."""
        return seconds / self.time_scale
