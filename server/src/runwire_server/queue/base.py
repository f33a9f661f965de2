"""The run queue's protocol: what the API and the reconciler ask of any queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import anyio.to_thread

T = TypeVar("T")


class RunQueue(Protocol):
    """Where stored runs are handed over by id to be executed (embedded or distributed).

    A run is written to the store ``in queue`` before it is enqueued; the queue carries only
    its id. Duplicate deliveries are harmless: a run is claimed atomically as it starts.
    """

    def enqueue(self, run_id: str) -> None:
        """Have run ``run_id`` (already stored, unclaimed) executed; raise if the queue is unreachable."""

    def full(self) -> bool:
        """Whether new runs should be refused for now (503 with ``Retry-After``)."""

    def depth(self) -> int | None:
        """How many runs wait to be executed, cheaply (a broker's count may be a moment old);
        ``None`` when it cannot be told now (``runwire_queue_depth``)."""

    def announce_ended(self, run_id: str) -> None:
        """Tell the servers listening (:meth:`listen_ended`) that ``run_id`` was written terminal;
        never raises (distributed mode; embedded: nothing to tell)."""

    def listen_ended(self, callback: Callable[[str], None]) -> Callable[[], None] | None:
        """Call ``callback(run id)`` from a thread for each run any process announces ended;
        return the function that stops listening, or ``None`` where runs end only in this process."""

    def ping(self) -> None:
        """Raise if the queue cannot take runs now (``/readyz``)."""

    @property
    def troubled(self) -> bool:
        """Whether the queue's last call to its broker failed (and none has succeeded since):
        :func:`call_from_loop` then makes calls in a worker thread. Always false in embedded mode."""


async def call_from_loop(queue: RunQueue, call: Callable[[], T]) -> T:
    """``call()`` (a call of ``queue``'s that may talk to its broker), made from the event loop.

    While the broker answers, it is made inline: a trip to a thread would cost every submit more
    than the round trip. Once a call has failed, and until one succeeds, it is made in a worker
    thread: a broker that stopped answering then holds the requests that need it, up to its
    timeouts, not the event loop and with it every other request (health checks included). Only
    the call that finds the broker gone holds the loop.
    """
    if queue.troubled:
        return await anyio.to_thread.run_sync(call)
    return call()
