"""Deadlines for slow clients, and a cap on connections: uvicorn's HTTP protocol with a time limit
on receiving a request, and a bound on the connections it keeps open.

uvicorn bounds only the idle time between requests (``timeout_keep_alive``, reset by every byte
received), so a client sending its headers or body a byte at a time would hold a connection for
ever. This protocol drops a connection whose request headers have not all arrived within
``RUNWIRE_HTTP_HEADER_TIMEOUT_S`` of its first byte (or of the connection), or whose body has not
all arrived within ``RUNWIRE_HTTP_REQUEST_TIMEOUT_S`` of its headers. The deadlines end when the
request has been received: a long-running handler (a blocking execute) is never cut short.

A connection made while ``RUNWIRE_MAX_CONNECTIONS`` are open is answered 503 at once and
closed, so that connections alone never take the descriptors runs need (programs' pipes, run
directories, the store's threads). Past the open-file limit itself the event loop would drop new
connections without a word, and programs and the lease's store connection would fail.
uvicorn's ``limit_concurrency`` does not bound this: it refuses requests, once they have arrived,
and keeps accepting connections (a connection that sends nothing holds its descriptor until the
header deadline).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("runwire.server")
_BUSY_TEXT = b"too many connections (RUNWIRE_MAX_CONNECTIONS); try again later"
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_BUSY_TEXT), _BUSY_TEXT)
)
"""The whole answer to a connection over the cap."""
WARN_EVERY_S = 60.0


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with request-receipt deadlines (set by :func:`deadline_protocol`)."""

    header_timeout_s: ClassVar[float] = 10.0
    request_timeout_s: ClassVar[float] = 60.0
    max_connections: ClassVar[int] = 1 << 30
    _next_warning: ClassVar[float] = 0.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers; over the cap, answer 503 and close."""
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse()
            return
        self._arm(self.header_timeout_s)

    def _refuse(self) -> None:
        now = time.monotonic()
        if now >= DeadlineHttpProtocol._next_warning:
            DeadlineHttpProtocol._next_warning = now + WARN_EVERY_S
            log.warning(
                "%d connections open (RUNWIRE_MAX_CONNECTIONS): new ones are answered 503 and closed "
                "until some end; this is logged at most once a minute",
                self.max_connections,
            )
        self.transport.write(BUSY)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A further request on a kept-alive connection: its headers are on the clock too."""
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        """The headers are in: the body now has its own deadline."""
        self._disarm()
        super().on_headers_complete()
        self._arm(self.request_timeout_s)

    def on_message_complete(self) -> None:
        """The request is in: no deadline while it is handled."""
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("dropping a connection whose request did not arrive in time: %s", self.client)
            self.transport.close()


def deadline_protocol(
    header_timeout_s: float, request_timeout_s: float, max_connections: int = 1 << 30
) -> type[Any]:
    """A :class:`DeadlineHttpProtocol` class with these deadlines and cap (uvicorn's ``http=``
    takes a class)."""
    return type(
        "RunwireHttpProtocol",
        (DeadlineHttpProtocol,),
        {
            "header_timeout_s": header_timeout_s,
            "request_timeout_s": request_timeout_s,
            "max_connections": max_connections,
        },
    )
