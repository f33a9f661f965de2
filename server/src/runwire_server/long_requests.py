"""The cap on long-lived requests: run event streams, long-polls (``?wait=``), starts that
honour ``Prefer: wait`` and blocking ``/api/execute/`` calls, per principal
(``RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL``) and in all (``RUNWIRE_MAX_LONG_REQUESTS``).

Each such request keeps its connection, a file descriptor, for up to 30 s (a wait) or as long as
its run goes on (a stream, which also reads the run 5 times a second). The rate limit counts
requests, not how long they stay: without this cap one key could open streams until the
process's open-file limit is reached, after which nobody's connection is answered, health probes
included. A request is counted only while it actually waits: a poll of a finished run, or a
stream of one, answers at once and holds nothing.

Over the cap a stream or a poll is refused (:class:`LongRequestRefused`: 429 for the caller's
own count, 503 for the process's, each with ``Retry-After``); a start with ``Prefer: wait`` still
starts its run and answers at once, as RFC 7240 allows a server that does not honour a
preference. Counts are per process and live on its event loop (no lock).

Kept free of the web framework (``runwire worker`` builds :class:`Services` without Litestar);
:mod:`runwire_server.api.errors` turns a refusal into its reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

RETRY_AFTER_S = 1
"""What a refusal's ``Retry-After`` says: streams and waits end all the time."""

Release = Callable[[], None]
"""Gives a held place back; calling it again does nothing."""


class LongRequestRefused(Exception):
    """A long-lived request over the cap (429: the caller's; 503: the process's)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        # the connection is closed after the reply: a refused client keeps no descriptor
        self.headers = {"Retry-After": str(RETRY_AFTER_S), "Connection": "close"}


@dataclass
class LongRequests:
    """At most ``per_principal`` long-lived requests of one principal and ``total`` of all at once."""

    per_principal: int = 1 << 30
    total: int = 1 << 30
    _held: dict[str, int] = field(default_factory=dict)
    _in_all: int = 0

    @property
    def in_all(self) -> int:
        """The long-lived requests held now."""
        return self._in_all

    def hold(self, identity: str) -> Release:
        """A place for a long-lived request of ``identity`` (``provider:subject``).

        :raises LongRequestRefused: ``identity`` holds ``per_principal`` already (429), or the
            process holds ``total`` (503).
        """
        release = self.try_hold(identity)
        if release is not None:
            return release
        if self._held.get(identity, 0) >= self.per_principal:
            raise LongRequestRefused(
                429,
                "too many event streams and waiting requests open at once for this caller "
                f"(RUNWIRE_LONG_REQUESTS_PER_PRINCIPAL={self.per_principal}); close one, or try again later",
            )
        raise LongRequestRefused(
            503,
            "the server holds as many event streams and waiting requests as it may "
            f"(RUNWIRE_MAX_LONG_REQUESTS={self.total}); try again later",
        )

    def try_hold(self, identity: str) -> Release | None:
        """:meth:`hold`, or ``None`` over either bound."""
        count = self._held.get(identity, 0)
        if count >= self.per_principal or self._in_all >= self.total:
            return None
        self._held[identity] = count + 1
        self._in_all += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._in_all -= 1
            left = self._held[identity] - 1
            if left:
                self._held[identity] = left
            else:
                del self._held[identity]

        return release
