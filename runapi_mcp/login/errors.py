"""Login failures. Each message is one sentence a person can act on, and never contains a key."""

from __future__ import annotations


class LoginError(Exception):
    """A login, logout or whoami step failed; `str()` is the one line to show."""


class LoginTimeout(LoginError):
    pass


class LoginDenied(LoginError):
    pass


class ConfigFileError(LoginError):
    """The shared config file could not be read or written."""
