"""The SSRF guard as a public function: which addresses are refused, and what the allow-list opens."""

from __future__ import annotations

import ipaddress
import re

import pytest

from runwire.netguard import AllowList, UrlRefused, check_url, is_public, split_url

NON_PUBLIC = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/x",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://[::]/",
    "http://localhost/",
]


@pytest.mark.parametrize("url", NON_PUBLIC)
async def test_non_public_targets_are_refused_by_default(url: str) -> None:
    with pytest.raises(UrlRefused, match="non-public address"):
        await check_url(url, AllowList())


# Every kind of address that is not globally routable unicast, with a network that contains it.
NOT_GLOBAL = [
    pytest.param("fec0::1", "fec0::/10", id="ipv6-site-local"),
    pytest.param("fc00::1", "fc00::/7", id="ipv6-unique-local-fc"),
    pytest.param("fd12:3456::1", "fc00::/7", id="ipv6-unique-local-fd"),
    pytest.param("fe80::1", "fe80::/10", id="ipv6-link-local"),
    pytest.param("169.254.169.254", "169.254.0.0/16", id="ipv4-link-local"),
    pytest.param("::1", "::1/128", id="ipv6-loopback"),
    pytest.param("127.0.0.1", "127.0.0.0/8", id="ipv4-loopback"),
    pytest.param("ff02::1", "ff00::/8", id="ipv6-multicast"),
    pytest.param("224.0.0.1", "224.0.0.0/4", id="ipv4-multicast"),
    pytest.param("::", "::/128", id="ipv6-unspecified"),
    pytest.param("0.0.0.0", "0.0.0.0/32", id="ipv4-unspecified"),
    pytest.param("0.1.2.3", "0.0.0.0/8", id="this-network"),
    pytest.param("100::1", "100::/64", id="ipv6-discard"),
    pytest.param("5f00::1", "5f00::/16", id="ipv6-reserved"),
    pytest.param("240.0.0.1", "240.0.0.0/4", id="ipv4-reserved"),
    pytest.param("255.255.255.255", "255.255.255.255/32", id="broadcast"),
    pytest.param("2001:db8::1", "2001:db8::/32", id="ipv6-documentation"),
    pytest.param("3fff::1", "3fff::/20", id="ipv6-documentation-3fff"),
    pytest.param("192.0.2.1", "192.0.2.0/24", id="test-net-1"),
    pytest.param("198.51.100.1", "198.51.100.0/24", id="test-net-2"),
    pytest.param("203.0.113.1", "203.0.113.0/24", id="test-net-3"),
    pytest.param("198.18.0.1", "198.18.0.0/15", id="benchmarking"),
    pytest.param("198.19.255.254", "198.18.0.0/15", id="benchmarking-upper"),
    pytest.param("2001:2::1", "2001:2::/48", id="ipv6-benchmarking"),
    pytest.param("100.64.0.1", "100.64.0.0/10", id="cgnat"),
    pytest.param("100.127.255.254", "100.64.0.0/10", id="cgnat-upper"),
    pytest.param("192.0.0.1", "192.0.0.0/24", id="ietf-protocol"),
    pytest.param("192.0.0.9", "192.0.0.0/24", id="ietf-protocol-pcp-anycast"),
    pytest.param("10.1.2.3", "10.0.0.0/8", id="private-10"),
    pytest.param("172.16.0.1", "172.16.0.0/12", id="private-172"),
    pytest.param("192.168.1.1", "192.168.0.0/16", id="private-192"),
    pytest.param("::ffff:127.0.0.1", "::ffff:0:0/96", id="ipv4-mapped-loopback"),
    pytest.param("::ffff:10.0.0.1", "::ffff:10.0.0.0/104", id="ipv4-mapped-private"),
    pytest.param("::127.0.0.1", "::/96", id="ipv4-compatible-loopback"),
    pytest.param("::10.0.0.1", "::/96", id="ipv4-compatible-private"),
    pytest.param("::8.8.8.8", "::/96", id="ipv4-compatible-public"),
    pytest.param("2002:7f00:1::", "2002::/16", id="6to4-loopback"),
    pytest.param("2002:a9fe:a9fe::1", "2002::/16", id="6to4-link-local"),
    pytest.param("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32", id="teredo"),
    pytest.param("2001:0:4136:e378:8000:63bf:80ff:fffe", "2001::/32", id="teredo-client-127"),
    pytest.param("64:ff9b::7f00:1", "64:ff9b::/96", id="nat64-loopback"),
    pytest.param("64:ff9b::a9fe:a9fe", "64:ff9b::/96", id="nat64-link-local"),
    pytest.param("64:ff9b:1::a00:1", "64:ff9b:1::/48", id="nat64-local-use"),
    pytest.param("64:ff9b:1::808:808", "64:ff9b:1::/48", id="nat64-local-use-public"),
]


def _url(address: str) -> str:
    return f"http://[{address}]:8080/x" if ":" in address else f"http://{address}:8080/x"


@pytest.mark.parametrize(("address", "network"), NOT_GLOBAL)
async def test_every_address_that_is_not_global_unicast_is_refused(address: str, network: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(UrlRefused, match=re.escape(f"non-public address {ipaddress.ip_address(address)} ")):
        await check_url(_url(address), AllowList())


@pytest.mark.parametrize(("address", "network"), NOT_GLOBAL)
async def test_listing_the_network_allows_the_address(address: str, network: str) -> None:
    checked = await check_url(_url(address), f"203.0.113.7, {network}")
    assert checked.addresses == (ipaddress.ip_address(address),)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:8.8.8.8",  # IPv4-mapped, public inside
        "2002:808:808::1",  # 6to4, public inside
        "64:ff9b::808:808",  # NAT64 well-known prefix, public inside
        "2620:4f:8000::1",
    ],
)
def test_global_unicast_is_public_including_ipv6_forms_of_a_public_ipv4(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("url", ["http://8.8.8.8/", "https://1.1.1.1:8443/dns", "http://[2606:4700::1111]/"])
async def test_public_addresses_pass_and_report_what_to_connect_to(url: str) -> None:
    checked = await check_url(url, "")
    assert checked.url == url
    assert len(checked.addresses) == 1
    assert str(checked.addresses[0]) in url


async def test_an_allowed_network_opens_only_that_network() -> None:
    allow = AllowList.parse("127.0.0.1, 10.0.0.0/8")
    assert (await check_url("http://127.0.0.1:9/", allow)).port == 9
    assert (await check_url("http://10.200.0.5/", allow)).host == "10.200.0.5"
    for refused in ("http://127.0.0.2/", "http://192.168.0.1/", "http://[::1]/"):
        with pytest.raises(UrlRefused):
            await check_url(refused, allow)


async def test_an_allowed_host_name_is_matched_by_name_not_by_address() -> None:
    checked = await check_url("http://LOCALHOST:8000/", ["localhost"])
    assert checked.host == "localhost"
    assert all(not a.is_global for a in checked.addresses)


async def test_the_allow_list_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UrlRefused):
        await check_url("http://127.0.0.1/")
    monkeypatch.setenv("RUNWIRE_HTTP_ALLOW", "127.0.0.0/8")
    assert (await check_url("http://127.0.0.1/")).scheme == "http"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http and https"),
        ("/relative/path", "only http and https"),
        ("http:///nohost", "no host"),
        ("http://user:secret@8.8.8.8/", "credentials"),
        ("http://8.8.8.8:99999/", "not a valid URL"),
        ("http://127.0.0.1:0/", "port 0"),
        ("http://8.8.8.8/a\r\nX-Injected: 1", "not a valid URL"),
        ("", "not a valid URL"),
        ("http://no-such-host.invalid/", "cannot resolve"),
    ],
)
async def test_malformed_or_foreign_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match=reason):
        await check_url(url, AllowList())


@pytest.mark.parametrize("entry", ["not a host", "10.0.0.0/33", "exa$mple.com", "a/b"])
def test_a_malformed_allow_list_entry_is_an_error(entry: str) -> None:
    with pytest.raises(UrlRefused, match="RUNWIRE_HTTP_ALLOW"):
        AllowList.parse(entry)


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("http://Bücher.Example/x", "xn--bcher-kva.example", 80),
        ("https://EXAMPLE.com:8443", "example.com", 8443),
        ("http://[2001:DB8::1]/", "2001:db8::1", 80),
    ],
)
def test_split_url_normalises_the_host(url: str, host: str, port: int) -> None:
    assert split_url(url)[1:] == (host, port)


def test_an_invalid_international_host_is_refused() -> None:
    with pytest.raises(UrlRefused, match="international domain name"):
        split_url("http://a\u2029b.example/")
