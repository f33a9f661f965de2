"""Long-polls: a poll that waits (``?wait=<seconds>``) is answered as soon as its run ends.

One :class:`RunEndings` per server process. A poll registers its run before reading it
(:meth:`RunEndings.read_when_ended`), so an end between the read and the wait is not missed.
:meth:`RunEndings.ended` wakes a run's polls. It is called when this process's store writes a
run terminal (embedded runs, cancels, execution updates: ``Services.run_ended``), and for the
runs ``runwire worker`` processes end, when their announcement arrives from the broker
(:mod:`runwire_server.queue.endings`). :meth:`RunEndings.watch_store` is the safety net: while
polls wait, it asks the store every second which of their runs have ended (an announcement
lost while the listener reconnected). Stopping the server wakes every waiting poll (it answers
with the run as it is), so a long-poll never holds a shutdown.

A poll or start that names its ``caller`` holds a place in the process's
:class:`~runwire_server.long_requests.LongRequests` while it waits, and only then: over the cap a
poll is refused, a start answers at once. Given ``gone`` (:data:`Gone`), a wait also ends when
its client closes the connection, so that a client that timed out holds no place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable

from runwire.records import TERMINAL
from runwire_server.long_requests import LongRequests, Release
from runwire_server.store import RunRow

log = logging.getLogger("runwire.server")

MAX_WAIT_S = 30.0
"""The longest a poll may ask to wait (``wait`` is 0-30 seconds)."""


def _no_hold() -> None:
    """The release of a wait that holds no place (no caller named)."""


Gone = Callable[[], Awaitable[object]]
"""Returns once the waiting request's client has gone (closed its connection): the wait ends
then, and gives its place back, instead of waiting out ``wait_s`` for nobody."""


WATCH_AFTER_S = 1.0
"""A wait starts watching for its client leaving only after this long: most runs a start waits
for end sooner, and the watch (a task reading the connection) would cost each of them; a client
that leaves holds its place this much longer at most."""


async def _wait(waiter: asyncio.Future[None], wait_s: float, gone: Gone | None) -> None:
    """Until ``waiter`` is done, ``wait_s`` seconds have passed, or ``gone`` returns (watched
    after :data:`WATCH_AFTER_S`)."""
    if gone is None or wait_s <= WATCH_AFTER_S:
        await asyncio.wait((waiter,), timeout=wait_s)
        return
    await asyncio.wait((waiter,), timeout=WATCH_AFTER_S)
    if waiter.done():
        return
    watch = asyncio.ensure_future(gone())
    try:
        await asyncio.wait(
            (waiter, watch), timeout=wait_s - WATCH_AFTER_S, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        if watch.done():
            if not watch.cancelled():
                watch.exception()  # retrieved: a failed watch only ends the wait
        else:
            watch.cancel()


class RunEndings:
    """The polls of this process waiting for runs to end, woken when one does."""

    def __init__(self, limits: LongRequests | None = None) -> None:
        self.limits = limits or LongRequests()
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._someone_waits = asyncio.Event()
        self._stopping = False

    def ended(self, run_id: str) -> None:
        """Wake the polls waiting for ``run_id`` (it was written terminal). Any thread may call this."""
        loop = self._loop
        if loop is None or run_id not in self._waiting:  # nobody waits: the common case, no hop
            return
        if threading.get_ident() == self._thread:
            self._wake(run_id)
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
                loop.call_soon_threadsafe(self._wake, run_id)

    def stop_waiting(self) -> None:
        """Wake every waiting poll now and let later ones answer at once (shutdown). Any thread."""
        self._stopping = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake_all)

    def waiting(self) -> list[str]:
        """The runs polls wait for now."""
        return list(self._waiting)

    async def read_when_ended(
        self,
        run_id: str,
        wait_s: float,
        read: Callable[[str], Awaitable[RunRow | None]],
        worth_waiting: Callable[[RunRow], bool] = lambda run: True,
        caller: str | None = None,
        gone: Gone | None = None,
    ) -> RunRow | None:
        """``read(run_id)``; if the run is there, unfinished and ``worth_waiting``, wait up to
        ``wait_s`` seconds for it to end (or until ``gone`` returns: the client left) and read it
        again.

        :raises runwire_server.long_requests.LongRequestRefused: it would wait, and ``caller``
            (``provider:subject``) or the process holds as many waits and streams as it may.
        """
        if wait_s <= 0 or self._stopping:
            return await read(run_id)
        waiter = self._register(run_id)
        release: Release | None = None
        try:
            run = await read(run_id)
            if run is None or run.status in TERMINAL or not worth_waiting(run):
                return run
            if caller is not None:
                release = self.limits.hold(caller)
            await _wait(waiter, wait_s, gone)
        finally:
            self._unregister(run_id, waiter)
            if release is not None:
                release()
        return await read(run_id)

    async def read_after_start(
        self,
        run_id: str,
        wait_s: float,
        start: Awaitable[object],
        read: Callable[[str], Awaitable[RunRow | None]],
        caller: str | None = None,
        gone: Gone | None = None,
    ) -> tuple[RunRow | None, bool]:
        """Await ``start`` (which stores and enqueues the new run ``run_id``), wait up to ``wait_s``
        seconds for the run to end (or until ``gone`` returns: the client left), then
        ``read(run_id)`` (a start with ``Prefer: wait``).
        Registered before the start, the wait cannot miss the end, so nothing is read before it.

        Returns the run and whether the start waited: not when the server is stopping, nor when
        ``caller`` or the process holds as many waits and streams as it may (RFC 7240 lets a
        server not honour a preference; the run is started either way)."""
        waiter = self._register(run_id)
        waited = False
        release: Release | None = None
        try:
            await start
            if not self._stopping:
                release = self.limits.try_hold(caller) if caller is not None else _no_hold
                if release is not None:
                    waited = True
                    await _wait(waiter, wait_s, gone)
        finally:
            self._unregister(run_id, waiter)
            if release is not None:
                release()
        return await read(run_id), waited

    async def watch_store(
        self, ended_among: Callable[[list[str]], Awaitable[list[str]]], every_s: float
    ) -> None:
        """Until cancelled: while polls wait, every ``every_s`` ask ``ended_among`` (the store) which
        of their runs have ended, and wake those polls (runs ended by other processes)."""
        while True:
            await self._someone_waits.wait()
            await asyncio.sleep(every_s)
            ids = self.waiting()
            if not ids:
                continue
            try:
                for run_id in await ended_among(ids):
                    self._wake(run_id)
            except Exception as exc:  # the store is unreachable: waiting polls time out instead
                log.warning("could not check the runs long-polls wait for: %s", exc)
                await asyncio.sleep(1.0)

    def _register(self, run_id: str) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the first poll (or an app started again on a new loop)
            self._loop, self._thread = loop, threading.get_ident()
        waiter = loop.create_future()
        self._waiting.setdefault(run_id, []).append(waiter)
        self._someone_waits.set()
        return waiter

    def _unregister(self, run_id: str, waiter: asyncio.Future[None]) -> None:
        waiters = self._waiting.get(run_id)
        if waiters is None:
            return
        with contextlib.suppress(ValueError):
            waiters.remove(waiter)
        if not waiters:
            del self._waiting[run_id]
            if not self._waiting:
                self._someone_waits.clear()

    def _wake(self, run_id: str) -> None:
        for waiter in self._waiting.get(run_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _wake_all(self) -> None:
        for run_id in list(self._waiting):
            self._wake(run_id)
