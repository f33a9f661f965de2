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


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (not private, loopback, link-local, ...)."""
    if isinstance(address, ipaddress.IPv6Address):
        for embedded in (address.ipv4_mapped, address.sixtofour, address.teredo and address.teredo[1]):
            if embedded is not None and not is_public(embedded):
                return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified or address.is_link_local
    )


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

    The host is resolved and *every* address must be public, unless the host name is
    allow-listed or the address lies in an allow-listed network. Private, loopback,
    link-local, multicast, reserved and unspecified addresses (IPv4 and IPv6, including
    IPv4-mapped IPv6) are refused otherwise.

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
