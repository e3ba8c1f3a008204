"""URLs that would lead to this machine, the local network or a cloud metadata service are refused."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runapi_mcp.core.addresses import parse_ipv4_loose, refusal_reason
from runapi_mcp.core.errors import InputError
from runapi_mcp.core.urlsafety import check_download_url, check_public_url

Resolver = Callable[[str, int], Iterable[str]]


def _must_not_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"an IP literal or refused name was sent to DNS: {host}")


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1/x.png", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),  # decimal
        ("http://0177.0.0.1/", "127.0.0.1"),  # octal
        ("http://0x7f.1/", "127.0.0.1"),  # hex, short
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://017700000001/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),  # short
        ("http://127.0.0.1./", "127.0.0.1"),  # trailing dot
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),  # IPv6-mapped
        ("http://[::1]/", "::1"),
        ("http://[::]/", "::"),
        ("http://0/", "0.0.0.0"),
        ("http://0.0.0.0:8080/", "0.0.0.0"),
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://172.16.0.1/", "172.16.0.1"),
        ("http://192.168.1.1/", "192.168.1.1"),
        ("http://100.64.0.1/", "100.64.0.1"),  # carrier-grade NAT
        ("http://169.254.1.1/", "169.254.1.1"),  # link-local
        ("http://224.0.0.1/", "224.0.0.1"),  # multicast
        ("http://240.0.0.1/", "240.0.0.1"),  # reserved
        ("http://255.255.255.255/", "255.255.255.255"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[fd00:ec2::254]/latest/", "fd00:ec2::254"),
        ("http://100.100.100.200/", "100.100.100.200"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://[fc00::1]/", "fc00::1"),
        ("http://[ff02::1]/", "ff02::1"),
        ("http://[2002:7f00:1::]/", "2002:7f00:1::"),  # 6to4 wrapping 127.0.0.1
        ("http://[64:ff9b::a00:1]/", "64:ff9b::a00:1"),  # NAT64 wrapping 10.0.0.1
        ("http://[::127.0.0.1]/", "::7f00:1"),  # IPv4-compatible
        ("https://１２７.０.０.１/", "127.0.0.1"),  # fullwidth digits, mapped by IDNA
        ("HTTP://127.0.0.1:443/", "127.0.0.1"),
    ],
)
def test_non_public_ip_literals_are_refused_in_every_spelling(url: str, address: str) -> None:
    with pytest.raises(InputError) as caught:
        check_public_url(url, resolver=_must_not_resolve)
    assert f"({address})" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://LOCALHOST:8000/",
        "http://localhost./",
        "http://app.localhost/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata.google.internal./",
        "http://instance-data/",
    ],
)
def test_local_and_metadata_host_names_are_refused_without_a_lookup(url: str) -> None:
    with pytest.raises(InputError, match=r"localhost|metadata"):
        check_public_url(url, resolver=_must_not_resolve)


@pytest.mark.parametrize(
    "url",
    [
        "http://a@127.0.0.1/",
        "http://user:pw@example.com/",
        "http://example.com@127.0.0.1/",
        "http://example.com\\@127.0.0.1/",
        "http://exa mple.com/",
        "http://example.com/\x00",
        "http://[fe80::1%25eth0]/",
    ],
)
def test_ambiguous_urls_that_parsers_disagree_on_are_refused(url: str) -> None:
    with pytest.raises(InputError, match="cannot be used"):
        check_public_url(url, resolver=_must_not_resolve)


@pytest.mark.parametrize(
    "url",
    [
        "http://",
        "http:///x.png",
        "http://example.com:99999/",
        "http://[::1/",
        "http://08.0.0.1/",
        "http://1.2.3.4.5/",
        "http://256.1.1.1/",
        "http://exa_mple..com/",
        "http://-bad-.com/",
    ],
)
def test_unparseable_urls_raise_input_error(url: str) -> None:
    with pytest.raises(InputError, match="cannot be used"):
        check_public_url(url, resolver=_must_not_resolve)


@pytest.mark.parametrize("url", ["ftp://example.com/x.png", "gopher://example.com/", "javascript:alert(1)", "x.png"])
def test_only_http_and_https_are_accepted(url: str) -> None:
    with pytest.raises(InputError, match=r"http:// or https://"):
        check_public_url(url, resolver=_must_not_resolve)


def test_host_name_resolving_to_any_private_address_is_refused() -> None:
    def mixed(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(InputError) as caught:
        check_public_url("https://images.example.com/cat.png", resolver=mixed)
    assert "images.example.com resolves to a private address (10.0.0.7)" in str(caught.value)


def test_host_name_resolving_to_mapped_loopback_is_refused() -> None:
    with pytest.raises(InputError, match="loopback"):
        check_public_url("https://rebind.example/", resolver=lambda h, p: ["::ffff:127.0.0.1"])


def test_host_name_resolving_to_public_addresses_passes(public_resolver: Resolver) -> None:
    seen: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> Iterable[str]:
        seen.append((host, port))
        return [*public_resolver(host, port), "2606:2800:220:1:248:1893:25c8:1946"]

    check_public_url("https://Images.Example.com./cat.png?sig=abc", resolver=resolve)
    assert seen == [("images.example.com", 443)]


def test_internationalised_host_is_resolved_in_its_ascii_form(public_resolver: Resolver) -> None:
    seen: list[str] = []
    check_public_url("https://bücher.example/a.png", resolver=lambda h, p: seen.append(h) or public_resolver(h, p))
    assert seen == ["xn--bcher-kva.example"]


def test_public_ip_literals_pass() -> None:
    check_public_url("https://93.184.216.34/a.png", resolver=_must_not_resolve)
    check_public_url("https://[2606:2800:220:1:248:1893:25c8:1946]/a.png", resolver=_must_not_resolve)
    check_public_url("http://[64:ff9b::5db8:d822]/a.png", resolver=_must_not_resolve)  # NAT64 of a public address


def test_allow_hosts_lets_the_configured_loopback_host_through() -> None:
    check_public_url("http://127.0.0.1:8765/files/a.png", ["127.0.0.1"], resolver=_must_not_resolve)
    check_public_url("http://localhost:8765/a.png", ["LOCALHOST."], resolver=_must_not_resolve)
    check_public_url("http://[::1]:8765/a.png", ["[::1]:8765"], resolver=_must_not_resolve)


def test_allow_hosts_compares_addresses_not_spellings() -> None:
    check_public_url("http://127.1:8765/a.png", ["127.0.0.1:8765"], resolver=_must_not_resolve)


def test_allow_hosts_entry_with_a_port_allows_only_that_port() -> None:
    check_public_url("http://127.0.0.1:8765/a.png", ["127.0.0.1:8765"], resolver=_must_not_resolve)
    with pytest.raises(InputError, match="loopback"):
        check_public_url("http://127.0.0.1:22/", ["127.0.0.1:8765"], resolver=_must_not_resolve)


def test_allow_hosts_does_not_extend_to_other_private_hosts() -> None:
    with pytest.raises(InputError, match="private"):
        check_public_url("http://10.0.0.1/", ["127.0.0.1"], resolver=_must_not_resolve)


def test_dns_lookup_that_hangs_is_cut_off_by_the_timeout() -> None:
    release = threading.Event()

    def hang(host: str, port: int) -> list[str]:
        release.wait(5)
        return ["93.184.216.34"]

    start = time.monotonic()
    try:
        with pytest.raises(InputError, match="took longer than"):
            check_public_url("https://slow.example/", resolver=hang, timeout=0.05)
    finally:
        release.set()
    assert time.monotonic() - start < 2


def test_unknown_host_gives_a_clear_error() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(InputError, match="cannot be found"):
        check_public_url("https://no-such-host.example/", resolver=fail)


def test_download_check_applies_the_same_rules_with_download_wording() -> None:
    with pytest.raises(InputError) as caught:
        check_download_url("http://0x7f.1/a.png", resolver=_must_not_resolve)
    assert "Image download URL" in str(caught.value)
    assert "127.0.0.1" in str(caught.value)
    check_download_url("http://127.0.0.1:9000/a.png", ["127.0.0.1"], resolver=_must_not_resolve)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("10.0x10203", "10.1.2.3"),
    ],
)
def test_loose_ipv4_parser_reads_what_inet_aton_reads(host: str, expected: str) -> None:
    assert parse_ipv4_loose(host) == ipaddress.IPv4Address(expected)
    assert socket.inet_ntoa(socket.inet_aton(host)) == expected


def test_loose_ipv4_parser_reads_a_bare_0x_as_zero_like_browsers() -> None:
    assert parse_ipv4_loose("0x") == ipaddress.IPv4Address("0.0.0.0")


@pytest.mark.parametrize("host", ["example.com", "1.example", "a.1b"])
def test_loose_ipv4_parser_leaves_host_names_alone(host: str) -> None:
    assert parse_ipv4_loose(host) is None


def test_refusal_reason_names_the_kind_of_address() -> None:
    assert refusal_reason(ipaddress.ip_address("169.254.169.254")) == "cloud metadata"
    assert refusal_reason(ipaddress.ip_address("::ffff:10.0.0.1")) == "private"
    assert refusal_reason(ipaddress.ip_address("2001:0:4136:e378:8000:63bf:f5ff:fffe")) is not None  # Teredo to 10/8
    assert refusal_reason(ipaddress.ip_address("8.8.8.8")) is None


_part = st.sampled_from(["dec", "oct", "hex"])


def _spell(value: int, style: str) -> str:
    return {"dec": str(value), "oct": "0" + format(value, "o"), "hex": "0x" + format(value, "x")}[style]


@settings(max_examples=150, deadline=None)
@given(last=st.integers(0, 2**24 - 1), parts=st.integers(1, 4), styles=st.lists(_part, min_size=4, max_size=4))
def test_any_spelling_of_any_loopback_address_is_refused(last: int, parts: int, styles: list[str]) -> None:
    value = (127 << 24) | last
    octets = list(value.to_bytes(4, "big"))
    # 1 part: the whole 32-bit number; 2: a.(24 bits); 3: a.b.(16 bits); 4: a.b.c.d
    numbers = [*octets[: parts - 1], int.from_bytes(bytes(octets[parts - 1 :]), "big")]
    host = ".".join(_spell(n, styles[i]) for i, n in enumerate(numbers))
    with pytest.raises(InputError, match="loopback"):
        check_public_url(f"http://{host}/", resolver=_must_not_resolve)
