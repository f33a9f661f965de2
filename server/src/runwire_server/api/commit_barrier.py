"""Group commit for embedded mode: store writes share commits, and no reply precedes its commit.

Embedded mode leaves the SQLite writes it makes on the event loop uncommitted
(:meth:`runwire_server.store.sqlite.SqliteSyncStore.defer_commits`, on ``store.sync``): a
commit costs ten times the statement (file locks, WAL writes), so one commit every loop
iteration or two replaces one per write: it runs after the callbacks that were already due
when the first write was made, so a run started by a request (its task's first step) usually
writes its start and its end within one commit. A response
that starts while writes are pending waits for that commit before its first byte is sent, so a
client is never told of a run (or a result) that a crash could still lose; a commit that fails
fails the responses waiting for it (503).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from runwire_server.store.base import StoreBase

log = logging.getLogger("runwire.server")


class CommitBarrier:
    """Commits ``store``'s deferred writes one loop iteration after the first; replies wait for it."""

    def __init__(self, store: StoreBase) -> None:
        self.store = store
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def start(self) -> None:
        """Defer the store's commits to this barrier, on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self.store.defer_commits(self._schedule)

    def _schedule(self, commit: Callable[[], None]) -> None:
        assert self._loop is not None
        # in the iteration after next: the callbacks already due first, so a run started with
        # the write (its task's first step) usually ends within that commit too
        self._loop.call_soon(self._loop.call_soon, self._commit)

    def _commit(self) -> None:
        waiters, self._waiters = self._waiters, []
        try:
            self.store.commit_pending()
        except Exception as exc:
            log.error("could not commit store writes: %s", exc)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def committed(self) -> None:
        """Return once the writes pending now are committed (at once if there are none)."""
        if not self.store.uncommitted or self._loop is None:
            return
        waiter = self._loop.create_future()  # one per caller: a cancelled caller cancels only its own
        self._waiters.append(waiter)
        await waiter

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware: each HTTP response starts only after pending writes are committed."""

        async def barrier(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def send_committed(message: Message) -> None:
                if self.store.uncommitted and message["type"] == "http.response.start":
                    await self.committed()
                await send(message)

            await app(scope, receive, send_committed)

        return barrier
