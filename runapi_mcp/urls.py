"""How a URL is shown in messages and logs: never its credentials, always its port.

A base URL may carry `user:password@` or a `?token=`, and result URLs are signed in their query, so a
URL is shown as scheme, host and port, and path only. Every layer uses this one helper (it imports
nothing of the package).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_SHOWN_CHARS = 100

_CREDENTIAL_TAIL = re.compile(r"[?#].*", re.DOTALL)


def display_url(url: str, *, with_path: bool = True, limit: int = MAX_SHOWN_CHARS) -> str:
    """`scheme://host[:port]/path` of `url`, without userinfo, query or fragment, shortened to `limit`.

    An explicit port is kept even when it is the scheme's default: "could not reach https://host:8443" and
    "https://host" are different problems. Text that is not a URL is shown without anything after `?` or
    `#` and without anything before an `@`.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        parts, host, port = None, None, None
    if parts is None or not parts.scheme or not host:
        scheme, sep, rest = _CREDENTIAL_TAIL.sub("", text).rpartition("://")
        shown = scheme + sep + rest.rsplit("@", 1)[-1]
    else:
        name = f"[{host}]" if ":" in host else host
        shown = f"{parts.scheme.lower()}://{name}{f':{port}' if port is not None else ''}"
        if with_path:
            shown += parts.path.rstrip("/")
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1), bracketed or not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
