"""Refuse URLs that lead to private, loopback, link-local or cloud-metadata addresses, in any spelling.

URLs reach us from agents (edit_image sources, handed to RunAPI) and from RunAPI (result images, which
we download). Either way nothing may point us, or RunAPI on our behalf, at an internal service. Hosts in
`allow_hosts` are exempt: the configured base URL's host, so a loopback sandbox works.

Parsers disagree about odd URLs (`http://a\\@b/`, `http://a@b@c/`), so ambiguous forms are refused
rather than interpreted: no userinfo, no backslashes, whitespace or control characters, no zone ids.
Numeric hosts are read the way `inet_aton` and browsers read them (`127.1`, `0x7f.1`, `0177.0.0.1`,
`2130706433`), and hostnames are resolved: every address they resolve to must be public.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from runapi_mcp.core.addresses import IPAddress, parse_ipv4_loose, refusal_reason
from runapi_mcp.core.errors import InputError
from runapi_mcp.urls import display_url

# (host, port) -> the addresses it resolves to, as strings. Tests pass their own.
Resolver = Callable[[str, int], Iterable[str]]

DNS_TIMEOUT_SECONDS = 2.0
MAX_URL_LENGTH = 8192

METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


@dataclass(frozen=True)
class _Context:
    what: str  # how messages name the URL
    hint: str  # the next step when it is refused


_INPUT = _Context("Image URL", "Use a public http(s) URL, or pass the image as a local file path.")
_DOWNLOAD = _Context("Image download URL", "The image was not downloaded; its URL is in the result.")


def check_public_url(
    url: str,
    allow_hosts: Collection[str] = (),
    *,
    resolver: Resolver | None = None,
    timeout: float = DNS_TIMEOUT_SECONDS,
) -> None:
    """Raise InputError unless `url` is an http(s) URL whose host is public (or in `allow_hosts`).

    Blocking: hostnames are resolved with the system resolver (bounded by `timeout`). Call it in a
    worker thread from async code.
    """
    _check(url, allow_hosts, resolver, timeout, _INPUT)


def check_download_url(
    url: str,
    allow_hosts: Collection[str] = (),
    *,
    resolver: Resolver | None = None,
    timeout: float = DNS_TIMEOUT_SECONDS,
) -> None:
    """The same rules as `check_public_url`, for result URLs we download (and every redirect)."""
    _check(url, allow_hosts, resolver, timeout, _DOWNLOAD)


def own_origin(base_url: str) -> tuple[str, ...]:
    """The `allow_hosts` entry for the configured base URL: its host at its own port only. A loopback sandbox
    works, while every other port on that host (a database, an admin page) stays refused."""
    try:
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return ()
    host = parts.hostname
    if not host:
        return ()
    return (f"[{host}]:{port}" if ":" in host else f"{host}:{port}",)


@dataclass(frozen=True)
class _Target:
    host: str  # lower case, no brackets or trailing dot, IDNA-encoded
    port: int
    ip: IPAddress | None


def _check(url: str, allow_hosts: Collection[str], resolver: Resolver | None, timeout: float, ctx: _Context) -> None:
    target = _parse(url, ctx)
    if _allowed(target, allow_hosts):
        return
    shown = display_url(url)
    if target.ip is not None:
        reason = refusal_reason(target.ip)
        if reason:
            raise InputError(f"{ctx.what} '{shown}' points to {_a(reason)} address ({target.ip}). {ctx.hint}")
        return
    if target.host == "localhost" or target.host.endswith(".localhost"):
        raise InputError(f"{ctx.what} '{shown}' points to this machine (localhost). {ctx.hint}")
    if target.host in METADATA_HOSTS:
        raise InputError(f"{ctx.what} '{shown}' points to a cloud metadata service. {ctx.hint}")
    for address in _resolve(target, resolver, timeout, ctx, shown):
        reason = refusal_reason(address)
        if reason:
            raise InputError(
                f"{ctx.what} '{shown}': {target.host} resolves to {_a(reason)} address ({address}). {ctx.hint}"
            )


def _parse(url: str, ctx: _Context) -> _Target:
    shown = display_url(url)

    def bad(why: str) -> InputError:
        return InputError(f"{ctx.what} '{shown}' cannot be used: {why}. {ctx.hint}")

    if len(url) > MAX_URL_LENGTH:
        raise bad(f"it is longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN_CHARS.search(url):
        raise bad("it contains spaces, control characters or backslashes (percent-encode them)")
    try:
        parts = urlsplit(url)
        port_value = parts.port
    except ValueError as exc:
        raise bad(f"it is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(f"{ctx.what} '{shown}' must start with http:// or https://. {ctx.hint}")
    if "@" in parts.netloc:
        raise bad("user names or passwords in URLs (user@host) are not accepted")
    raw_host = parts.hostname
    if not raw_host:
        raise bad("it has no host")
    port = port_value if port_value is not None else (443 if scheme == "https" else 80)
    if parts.netloc.startswith("["):
        if "%" in raw_host:
            raise bad("IPv6 zone ids are not accepted")
        try:
            return _Target(raw_host, port, ipaddress.IPv6Address(raw_host))
        except ValueError:
            raise bad("the IPv6 address in brackets is not valid") from None
    host = _normalize_hostname(raw_host)
    if host is None:
        raise bad("the host name is not valid")
    try:
        ip = parse_ipv4_loose(host)
    except ValueError as exc:
        raise bad(f"the numeric host is not a valid IPv4 address ({exc})") from None
    return _Target(str(ip) if ip else host, port, ip)


def _normalize_hostname(raw: str) -> str | None:
    host = raw
    if not host.isascii():
        try:
            # IDNA also maps look-alikes: fullwidth "１２７.０.０.１" becomes "127.0.0.1".
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    return host


def _allowed(target: _Target, allow_hosts: Collection[str]) -> bool:
    for entry in allow_hosts:
        parsed = _parse_allow_entry(entry)
        if parsed is None:
            continue
        host, port = parsed
        if host == target.host and (port is None or port == target.port):
            return True
    return False


def _parse_allow_entry(entry: str) -> tuple[str, int | None] | None:
    text = entry.strip().lower()
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            return None
        port = int(port_text)
    else:
        host = text
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    normalized = _normalize_hostname(host)
    if normalized is None:
        return None
    try:
        ip = parse_ipv4_loose(normalized)
    except ValueError:
        return None
    return (str(ip) if ip else normalized), port


def _resolve(target: _Target, resolver: Resolver | None, timeout: float, ctx: _Context, shown: str) -> list[IPAddress]:
    raw = _lookup(resolver or _system_resolve, target, timeout)
    if raw is None:
        raise InputError(
            f"{ctx.what} '{shown}': looking up {target.host} took longer than {timeout:g}s. Try again later."
        )
    if isinstance(raw, OSError):
        raise InputError(f"{ctx.what} '{shown}': the host {target.host} cannot be found. Check the URL.")
    addresses: list[IPAddress] = []
    for text in raw:
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses:
        raise InputError(f"{ctx.what} '{shown}': the host {target.host} has no address. Check the URL.")
    return addresses


def _lookup(resolver: Resolver, target: _Target, timeout: float) -> list[str] | OSError | None:
    """Run the lookup with a deadline: getaddrinfo has no timeout of its own. The caller waits; a lookup
    that outlives the deadline finishes in a daemon thread nobody waits for (not even interpreter exit).
    None means it timed out; an OSError that the host is unknown; anything else is re-raised here."""
    outcome: list[list[str] | BaseException] = []

    def work() -> None:
        try:
            outcome.append(list(resolver(target.host, target.port)))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=work, name="runapi-mcp-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return None
    result = outcome[0]
    if isinstance(result, BaseException) and not isinstance(result, OSError):
        raise result
    return result


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
