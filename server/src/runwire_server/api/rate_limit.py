"""The optional per-principal rate limit (``RUNWIRE_RATE_LIMIT``), counted after authentication.

Litestar's rate-limit middleware runs before authentication, so it can only count requests by
what they claim (a header, an address): a key holder adding a made-up ``Authorization`` header
to each request would get a fresh count every time. Counting in the ``principal`` dependency,
once the auth providers have said who is calling, keys the limit on that principal's identity
(``provider:subject``), which the caller cannot vary. Requests that authenticate as nobody are
answered 401 before they cost anything worth limiting. Counts are per process, in fixed
windows of the configured unit. Health probes have no principal and are never limited.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from runwire_server.api.errors import ApiError
from runwire_server.settings import parse_rate

SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MAX_TRACKED = 100_000
"""Principals counted at once; older windows are dropped past it (a bound on memory)."""


class TooManyRequests(ApiError):
    """The caller went over ``RUNWIRE_RATE_LIMIT``."""

    status_code = 429


@dataclass
class RateLimiter:
    """At most ``limit`` requests per principal in each window of ``window_s`` seconds."""

    limit: int
    window_s: int
    _counts: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_setting(cls, rate: str) -> RateLimiter | None:
        """The limiter for ``RUNWIRE_RATE_LIMIT`` (``N/unit``); ``None`` when it is empty."""
        if not rate:
            return None
        unit, count = parse_rate(rate)
        return cls(count, SECONDS[unit])

    def hit(self, identity: str) -> None:
        """Count a request of ``identity``.

        :raises TooManyRequests: over the limit, with ``Retry-After`` (seconds to the window's
            end) and the ``RateLimit-Limit``/``-Remaining``/``-Reset`` headers.
        """
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(identity, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            count += 1
            if len(self._counts) >= MAX_TRACKED and identity not in self._counts:
                self._drop_expired(now)
            self._counts[identity] = (start, count)
        if count > self.limit:
            reset = max(1, math.ceil(start + self.window_s - now))
            headers = {
                "Retry-After": str(reset),
                "RateLimit-Limit": str(self.limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
            }
            raise TooManyRequests("Too Many Requests", headers=headers)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, (start, _) in self._counts.items() if now - start >= self.window_s]:
            del self._counts[key]
        while len(self._counts) >= MAX_TRACKED:  # all still in their window: forget the oldest
            del self._counts[next(iter(self._counts))]
