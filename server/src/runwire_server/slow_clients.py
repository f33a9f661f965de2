"""Deadlines for slow clients: uvicorn's HTTP protocol with a time limit on receiving a request.

uvicorn bounds only the idle time between requests (``timeout_keep_alive``, reset by every byte
received), so a client sending its headers or body a byte at a time would hold a connection for
ever. This protocol drops a connection whose request headers have not all arrived within
``RUNWIRE_HTTP_HEADER_TIMEOUT_S`` of its first byte (or of the connection), or whose body has not
all arrived within ``RUNWIRE_HTTP_REQUEST_TIMEOUT_S`` of its headers. The deadlines end when the
request has been received: a long-running handler (a blocking execute) is never cut short.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with request-receipt deadlines (set by :func:`deadline_protocol`)."""

    header_timeout_s: ClassVar[float] = 10.0
    request_timeout_s: ClassVar[float] = 60.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm(self.header_timeout_s)

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


def deadline_protocol(header_timeout_s: float, request_timeout_s: float) -> type[Any]:
    """A :class:`DeadlineHttpProtocol` class with these deadlines (uvicorn's ``http=`` takes a class)."""
    return type(
        "RunwireHttpProtocol",
        (DeadlineHttpProtocol,),
        {"header_timeout_s": header_timeout_s, "request_timeout_s": request_timeout_s},
    )
