"""The crash tests' child processes get their environment from the shared harness (tests/support)."""

from __future__ import annotations

from tests.support.environments import child_env

__all__ = ["child_env"]
