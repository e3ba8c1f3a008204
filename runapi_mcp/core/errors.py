"""Errors of the generation flow. Messages are one or two sentences that end with the next step."""

from __future__ import annotations


class CoreError(Exception):
    """Base of every expected failure in `runapi_mcp.core`; the message is safe to show to the user."""


class InputError(CoreError):
    """A tool argument cannot be used (a path outside the roots, not an image, a refused URL...)."""


class DownloadError(CoreError):
    """A finished image could not be saved locally; its URL at RunAPI may still work."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        # True when trying again later may succeed (timeouts, 5xx, dropped connections).
        self.retryable = retryable


class JournalError(CoreError):
    """The task journal cannot be opened or written (permissions, a newer schema)."""
