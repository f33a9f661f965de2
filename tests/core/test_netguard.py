"""The SSRF guard as a public function: which addresses are refused, and what the allow-list opens."""

from __future__ import annotations

import pytest

from runwire.netguard import AllowList, UrlRefused, check_url, split_url

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
