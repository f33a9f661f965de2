"""Work in a thread that runs to its end even when the task awaiting it is cancelled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


async def to_the_end_in_thread(call: Callable[[], T], undo: Callable[[T], None] | None = None) -> T:
    """``call()`` in a thread, which runs to its end even when the awaiting task is cancelled
    meanwhile; then ``undo`` (when given) gets what it returned, in a thread: the caller will
    never have it (a run directory made meanwhile is removed).

    The thread decides, not a callback on the event loop: a loop that ends (``asyncio.run``
    cancels every task, the one waiting for the thread too) would drop the result unseen."""
    handover = _Handover(call, undo)
    running = asyncio.ensure_future(asyncio.to_thread(handover.run))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        handover.abandon()
        raise


class _Handover(Generic[T]):
    """Who has the result of a call in a thread: its awaiting task, or, once that gave up, ``undo``."""

    def __init__(self, call: Callable[[], T], undo: Callable[[T], None] | None) -> None:
        self._call, self._undo = call, undo
        self._lock = threading.Lock()
        self._abandoned = False
        self._done = False
        self._result: T | None = None

    def run(self) -> T:
        """The call (in the thread); undone here if its awaiting task gave up meanwhile."""
        result = self._call()
        with self._lock:
            self._done, self._result, abandoned = True, result, self._abandoned
        if abandoned and self._undo is not None:
            self._undo(result)
        return result

    def abandon(self) -> None:
        """The awaiting task gave up (on the loop): the thread undoes the result once it has it;
        if it had it already (on its way to the task), it is undone in a thread of its own."""
        with self._lock:
            self._abandoned, done, result = True, self._done, self._result
        if done and self._undo is not None:
            threading.Thread(target=self._undo, args=(result,), name="runwire-undo", daemon=True).start()
