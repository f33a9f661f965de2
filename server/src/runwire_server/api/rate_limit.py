"""The optional per-principal rate limit (``RUNWIRE_RATE_LIMIT``), by Litestar's middleware.

Requests are counted per credential (a hash of ``X-Api-Key`` or ``Authorization``), or per
client address when none is sent, before authentication runs: a caller cycling through made-up
keys is answered 401 at once, which costs the server less than counting. The counts live in
this process's memory (each server counts its own requests). Health probes are never limited.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Request
from litestar.middleware.rate_limit import RateLimitConfig, get_remote_address
from litestar.types import Middleware

from runwire_server.settings import parse_rate

CREDENTIAL_HEADERS = (b"x-api-key", b"authorization")
UNLIMITED_PATHS = ["/healthz", "/readyz"]


def caller_of(request: Request[Any, Any, Any]) -> str:
    """Whom a request counts against: its credential (hashed), else its client address."""
    for name, value in request.scope["headers"]:
        if name in CREDENTIAL_HEADERS:
            return "credential:" + hashlib.sha256(value).hexdigest()
    return "address:" + get_remote_address(request)


def rate_limit_middleware(rate: str) -> list[Middleware]:
    """The rate-limit middleware for ``RUNWIRE_RATE_LIMIT`` (``N/unit``); none when it is empty.

    A caller over the limit gets 429 with ``Retry-After`` (added by the error handler) and the
    ``RateLimit-*`` headers.
    """
    if not rate:
        return []
    unit, count = parse_rate(rate)
    config = RateLimitConfig(
        rate_limit=(unit, count),  # type: ignore[arg-type]
        identifier_for_request=caller_of,
        exclude=UNLIMITED_PATHS,
    )
    return [config.middleware]
