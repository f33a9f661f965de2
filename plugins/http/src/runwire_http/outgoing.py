"""What the node hands to :mod:`runwire_http.fetch` and gets back: plain data, no httpx.

Kept apart so the plugin loads without importing httpx; :mod:`runwire_http.fetch` (which does)
is imported when a request is first sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runwire.netguard import AllowList


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A request ready to send: method, absolute URL, headers and encoded body."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """How to send: per-attempt timeout, retries, back-off, redirects and the body cap."""

    timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.5
    follow_redirects: bool = True
    max_redirects: int = 5
    max_response_bytes: int = 1_048_576
    allow: AllowList = field(default_factory=AllowList)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A received response with its whole (capped) body and the URL that produced it."""

    url: str
    status_code: int
    headers: dict[str, str]
    body: bytes
    charset: str | None
