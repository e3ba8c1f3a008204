"""One error tree for everything RunAPI can answer, and the one function that maps a response onto it."""

from __future__ import annotations


class RunAPIError(Exception):
    """Base of every RunAPI failure. `message` is RunAPI's own text (never contains the key)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        task_id: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.task_id = task_id
        self.request_id = request_id
        self.retry_after = retry_after


class ValidationError(RunAPIError):
    """400/422, or refused by the client before any request was sent."""


class AuthenticationError(RunAPIError):
    """401: the key is missing or invalid."""


class InsufficientCreditsError(RunAPIError):
    """402: the balance does not cover the job."""


class NotFoundError(RunAPIError):
    """404."""


class IdempotencyConflictError(RunAPIError):
    """409: an Idempotency-Key was reused with a different body."""


class RateLimitError(RunAPIError):
    """429."""

    retryable = True


class ServerError(RunAPIError):
    """5xx."""

    retryable = True


class ConnectionFailedError(RunAPIError):
    """The request never got an answer: timeout, refused or dropped connection."""

    retryable = True


class TaskFailedError(RunAPIError):
    """The task reached a failed status. RunAPI does not bill failed generations."""


class UnexpectedResponseError(RunAPIError):
    """A 2xx (or other) answer that does not match the contract."""
