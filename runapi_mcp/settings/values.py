"""How the text of a variable or flag becomes a setting's value: the model's before-validators.

Text comes from the environment, the config file or a flag; values of the right type (from code, or from
`Settings.replace`) pass through untouched to the field's own bounds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from runapi_mcp.core.config import MIB, field_error
from runapi_mcp.urls import display_url

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
LOG_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}


def boolean_or_auto(value: Any) -> Any:
    """true, false, or auto (the server decides per client)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    return _boolean(value, "auto, true or false")


def boolean(value: Any) -> Any:
    return _boolean(value, "true or false")


def _boolean(value: Any, expected: str) -> Any:
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise field_error(f"must be {expected}, not {value!r}")


def megabytes(value: Any) -> Any:
    """Text is a size in megabytes (the variables say MB); a number is already bytes."""
    if not isinstance(value, str):
        return value
    try:
        mb = float(value.strip())
    except ValueError:
        raise field_error(f"must be a size in megabytes such as 20, not {value!r}") from None
    if not 0 < mb <= 1024:
        raise field_error(f"must be more than 0 and at most 1024 megabytes, not {value!r}")
    return int(mb * MIB)


def preview(value: Any) -> Any:
    """`auto` (512 px), `off` (0), or a longest side in pixels such as `384` or `384px`."""
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    if word in ("auto", ""):
        return 512
    if word in ("off", "none", "0", "false"):
        return 0
    try:
        return int(word.removesuffix("px"))
    except ValueError:
        raise field_error(f"must be auto, off, or a size in pixels such as 384, not {value!r}") from None


def log_level(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    word = value.strip().upper()
    return LOG_LEVEL_ALIASES.get(word, word)


def path(value: Any) -> Any:
    return Path(value.strip()).expanduser() if isinstance(value, str) else value


def path_list(value: Any) -> Any:
    """Folders separated by the platform's path separator (`:`, `;` on Windows), resolved once."""
    if not isinstance(value, str):
        return value
    return tuple(Path(p.strip()).expanduser().resolve() for p in value.split(os.pathsep) if p.strip())


def word_list(value: Any) -> Any:
    return _words(value) if isinstance(value, str) else value


def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in text.split(",") if w.strip())


def base_url(value: Any) -> Any:
    """RunAPI's address: http(s), a host, an optional port and path; no query or fragment (paths are appended
    to it, so a query would swallow them). Never echoed whole: it may carry credentials."""
    if not isinstance(value, str):
        return value
    text = value.strip().rstrip("/")
    shown = display_url(text)
    example = "such as https://runapi.ai"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise field_error(f"must be a URL {example}; {shown!r} has an invalid port") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise field_error(f"must be an http:// or https:// URL with a host, {example}, not {shown!r}")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise field_error(f"must not have a query or fragment (request paths are appended to it): {shown}")
    if port == 0:
        raise field_error(f"must not use port 0 ({shown})")
    return text


def http_host(value: Any) -> Any:
    """A bind address: a host name or IP address, without a scheme, port or path."""
    if not isinstance(value, str):
        return value
    host = value.strip()
    if not host or any(c in host for c in "/@?# ") or "://" in host:
        raise field_error(f"must be a host name or IP address such as 127.0.0.1 or 0.0.0.0, not {value!r}")
    return host


def allowed_hosts(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    hosts = _words(value)
    for host in hosts:
        if any(c in host for c in "/@?#"):
            raise field_error(f"takes host names with an optional :port such as mcp.example.com, not {host!r}")
    return hosts


def allowed_origins(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    origins = _words(value)
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise field_error(f"takes origins such as https://app.example.com (no path), not {origin!r}")
    return origins


def database_url(value: Any) -> Any:
    """A PostgreSQL connection URL; checked by scheme only, since the rest (and the password) is the driver's."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str) or not text.strip().lower().startswith(("postgresql://", "postgres://")):
        raise field_error("must be a postgresql:// URL such as postgresql://user:password@host/db")
    return SecretStr(text.strip())


def public_url(value: Any) -> Any:
    """The address RunAPI reaches this server at, for callbacks: like base_url, and without credentials."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = base_url(value)
    if isinstance(text, str) and urlsplit(text).username is not None:
        raise field_error("must not carry a user name or password: RunAPI calls it without credentials")
    return text


def host_waits(value: Any) -> Any:
    """`name=seconds` pairs, comma-separated (`claude-code=120,codex-mcp-client=50`): a host's wait budget."""
    if not isinstance(value, str):
        return value
    pairs: list[tuple[str, float]] = []
    for word in _words(value):
        name, sep, seconds = word.partition("=")
        try:
            budget = float(seconds)
        except ValueError:
            budget = -1.0
        if not sep or not name.strip() or not 0 <= budget <= 600:
            raise field_error(f"takes host=seconds pairs (0-600) such as claude-code=120, not {word!r}")
        pairs.append((name.strip().lower(), budget))
    return tuple(pairs)


def state_keys(value: Any) -> Any:
    """Comma-separated secrets of 32+ characters each (what the SDK's request-state codec requires)."""
    if not isinstance(value, str):
        return value
    keys = _words(value)
    if any(len(key.encode()) < 32 for key in keys):
        raise field_error("takes comma-separated secrets of 32+ characters each")
    return tuple(SecretStr(key) for key in keys)


def usd(value: Any) -> Any:
    """An amount in US dollars: 2, 2.50 or $2.50."""
    if not isinstance(value, str):
        return value
    text = value.strip().removeprefix("$").strip()
    try:
        amount = float(text)
    except ValueError:
        raise field_error(f"must be an amount in US dollars such as 2.50, not {value!r}") from None
    if amount != amount or amount in (float("inf"), float("-inf")) or amount < 0:
        raise field_error(f"must be an amount in US dollars of 0 or more, not {value!r}")
    return amount
