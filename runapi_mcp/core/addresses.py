"""Which IP addresses are public, in every spelling an address can take.

Numeric hosts are read the way `inet_aton` and browsers read them (`127.1`, `0x7f.1`, `0177.0.0.1`,
`2130706433`), and IPv6 addresses that carry an IPv4 one (mapped, 6to4, Teredo, NAT64) are judged by it.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")


def refusal_reason(ip: IPAddress) -> str | None:
    """Why an address is not public ("loopback", "private", ...), or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reasons = [r for r in (refusal_reason(v4) for v4 in embedded) if r]
            return reasons[0] if reasons else None
        if ip in _IPV4_COMPATIBLE:
            return "loopback" if ip.is_loopback else "unspecified" if ip.is_unspecified else "IPv4-compatible"
        if ip in _NAT64_LOCAL:
            return "private"
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_loopback, "loopback"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
        (not ip.is_global, "non-public"),
    )
    return next((reason for hit, reason in checks if hit), None)


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """Read `host` the way inet_aton and browsers do (`127.1`, `0x7f.0.0.1`, `017700000001`); None if it is
    not numeric at all. Raises ValueError for a numeric-looking host that is not a valid address."""
    parts = host.split(".")
    if not all(_NUMERIC_LABEL.match(p) for p in parts):
        return None
    if len(parts) > 4:
        raise ValueError("too many numeric parts")
    numbers = [_ipv4_number(p) for p in parts]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError("a number is out of range")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_number(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        try:
            return int(part, 8)
        except ValueError:
            raise ValueError(f"{part} starts with 0 but is not an octal number") from None
    return int(part)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64): they decide where it goes."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    if ip in _NAT64:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return None
