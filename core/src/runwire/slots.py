"""A counting limiter shared by every thread and event loop of a process.

``asyncio.Semaphore`` belongs to one event loop and ``threading.Semaphore`` blocks the thread
that waits; a ``runwire worker`` runs several threads, each with its own loop, that must share
one limit (child processes at once), and no waiter may block its loop. :class:`Slots` keeps
its count under a :class:`threading.Lock`; a waiter parks on a future of its own loop, which
a release on any thread resolves through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from types import TracebackType


class _Waiter:
    __slots__ = ("future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Slots:
    """At most ``limit`` holders at once, across threads and event loops; waiters are served
    in arrival order.

    Use ``async with slots:`` (or :meth:`acquire` / :meth:`release`). A waiter that is
    cancelled gives up its place; one cancelled just as a slot was handed to it passes that
    slot on.

    :param limit: how many may hold a slot at once (at least 1).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a limit of {limit} slots would let nothing run")
        self.limit = limit
        self._lock = threading.Lock()
        self._free = limit
        self._waiters: deque[_Waiter] = deque()

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        return self.limit - self._free

    @property
    def waiting(self) -> int:
        """Waiters not yet given a slot."""
        return len(self._waiters)

    async def acquire(self) -> None:
        """Wait (without blocking the event loop) until a slot is free, and take it."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                granted = waiter.granted
                if not granted and waiter in self._waiters:
                    self._waiters.remove(waiter)
            if granted:  # handed a slot it will never use: pass it on
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back: to the longest waiter whose loop still runs, else to the pool.

        Safe to call from any thread.
        """
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                try:
                    waiter.loop.call_soon_threadsafe(_wake, waiter.future)
                except RuntimeError:  # its loop is closed: nobody will ever wake there
                    continue
                waiter.granted = True
                return
            if self._free >= self.limit:
                raise RuntimeError("Slots.release() called more often than acquire()")
            self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
