"""SSRF guard: refuse URLs whose host resolves to a non-public address unless allow-listed.

``check_url`` is public API: anything in runwire that fetches or posts to a user-given URL
(the HTTP node, callback URLs) calls it with the same allow-list, ``RUNWIRE_HTTP_ALLOW``.
It uses only the standard library, so any distribution can import it cheaply.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from runwire.errors import RunwireError

ALLOW_ENV = "RUNWIRE_HTTP_ALLOW"
SCHEMES = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UrlRefused(RunwireError):
    """A URL is malformed, uses another scheme, or targets an address that is not allowed."""


@dataclass(frozen=True, slots=True)
class AllowList:
    """Hosts and networks that may be reached even though they are not public.

    ``hosts`` match the URL's host name exactly (case-insensitive), whatever it resolves to;
    ``networks`` match the resolved addresses.
    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Parse a comma-separated list of host names, IP addresses and CIDR networks.

        :raises UrlRefused: an entry is neither a host name nor an address/network.
        """
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in text.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or not _looks_like_host(entry):
                raise UrlRefused(f"{ALLOW_ENV}: {raw.strip()!r} is neither a host name nor an IP network")
            hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AllowList:
        """The allow-list configured in ``RUNWIRE_HTTP_ALLOW`` (empty when unset)."""
        env = os.environ if environ is None else environ
        return cls.parse(env.get(ALLOW_ENV, ""))

    def allows_host(self, host: str) -> bool:
        """Whether ``host`` is listed by name."""
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """Whether ``address`` lies in a listed network."""
        return any(address.version == net.version and address in net for net in self.networks)


def _looks_like_host(entry: str) -> bool:
    labels = entry.rstrip(".").split(".")
    return all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels)


# Ranges refused whatever this Python's ``ipaddress`` says (its ``is_global`` differs between
# releases and lets some of these through, e.g. fec0::/10, 3fff::/20 and 192.0.0.9).
_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including the broadcast address 255.255.255.255
    )
)
# IPv6 outside 2000::/3 (global unicast) is refused as a whole: unspecified, loopback,
# IPv4-compatible, discard, site-local, unique-local, link-local, multicast, reserved.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix; 64:ff9b:1::/48 is local-use
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable unicast.

    Refused: private, shared (100.64/10), loopback, link-local, site-local, unique-local,
    multicast, unspecified, broadcast, reserved, documentation, benchmarking and IETF
    protocol ranges. IPv6 that embeds an IPv4 address (IPv4-mapped, well-known NAT64
    64:ff9b::/96, 6to4) is public only if the embedded IPv4 address is; IPv4-compatible
    (::a.b.c.d), Teredo and local-use NAT64 (64:ff9b:1::/48) are always refused.
    """
    if isinstance(address, ipaddress.IPv4Address):
        refused: tuple[IPNetwork, ...] = _REFUSED_V4
    else:
        if address in _IPV4_MAPPED or address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address in _SIXTOFOUR and not is_public(ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)):
            return False
        if address not in _GLOBAL_UNICAST_V6:
            return False
        refused = _REFUSED_V6
    if any(address in network for network in refused):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved)


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that passed the guard.

    :param url: the URL as given.
    :param scheme: ``http`` or ``https``.
    :param host: the host name (lower-case, IPv6 without brackets).
    :param port: the explicit or default port.
    :param addresses: every address the host resolved to, all allowed; connect to one of
        these (not to a fresh resolution) so DNS cannot change the answer in between.
    """

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...] = field(default=())


def split_url(url: str) -> tuple[SplitResult, str, int]:
    """Split an absolute http(s) URL into parts, host (lower-case, IDNA-encoded) and port.

    :raises UrlRefused: not an absolute http/https URL with a host and a valid port.
    """
    if not isinstance(url, str) or not url or any(c in url for c in "\r\n\t\x00 "):
        raise UrlRefused(f"not a valid URL: {url!r:.200}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL: {url!r:.200} ({exc})") from None
    if port == 0:  # urlsplit reads it, but nothing listens there: a connect would only fail
        raise UrlRefused(f"not a valid URL: {url!r:.200} (port 0)")
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UrlRefused(f"only http and https URLs are allowed, not {scheme or 'a relative URL'!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRefused(f"URL has no host: {url!r:.200}")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UrlRefused(f"URL host is not a valid international domain name: {host!r:.100}") from None
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("URLs with credentials (user:password@) are not allowed; use a header")
    return parts, host, port if port is not None else SCHEMES[scheme]


async def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address ``host`` resolves to (an IP literal resolves to itself).

    :raises UrlRefused: the name does not resolve.
    """
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"cannot resolve host {host!r}: {exc}") from None
    addresses: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        addresses[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    if not addresses:
        raise UrlRefused(f"host {host!r} has no addresses")
    return tuple(addresses)


async def check_url(url: str, allow: AllowList | str | Iterable[str] | None = None) -> CheckedUrl:
    """Check that ``url`` may be requested and return it with its resolved addresses.

    The host is resolved and *every* address must be public (see :func:`is_public`), unless
    the host name is allow-listed or the address lies in an allow-listed network. Networks
    match the address as resolved: to allow ``::ffff:10.0.0.1`` list an IPv6 network.

    :param url: an absolute ``http`` or ``https`` URL.
    :param allow: an :class:`AllowList`, its text form (or a list of entries), or ``None``
        to read ``RUNWIRE_HTTP_ALLOW`` from the environment.
    :raises UrlRefused: with a message saying why.
    """
    allowed = _allow_list(allow)
    parts, host, port = split_url(url)
    addresses = await resolve(host, port)
    if not allowed.allows_host(host):
        for address in addresses:
            if not is_public(address) and not allowed.allows_address(address):
                raise UrlRefused(
                    f"refusing {parts.scheme}://{parts.netloc}: {host} resolves to non-public address "
                    f"{address} (allow it with {ALLOW_ENV})"
                )
    return CheckedUrl(url=url, scheme=parts.scheme.lower(), host=host, port=port, addresses=addresses)


def _allow_list(allow: AllowList | str | Iterable[str] | None) -> AllowList:
    if allow is None:
        return AllowList.from_env()
    if isinstance(allow, AllowList):
        return allow
    if isinstance(allow, str):
        return AllowList.parse(allow)
    return AllowList.parse(",".join(allow))
