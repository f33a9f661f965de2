"""Distributed mode: re-enqueue runs left ``in queue`` without a message.

``runwire serve`` stores a run before it enqueues its id; if the process dies in between (or
the broker loses the message), nothing would ever execute that run. A sweeper thread in each
``runwire serve`` with a broker (Redis or RabbitMQ) enqueues again every run that has been ``in queue`` for
``RUNWIRE_REQUEUE_AFTER_S`` — at start-up and then every half of that. A duplicate message is
harmless: a run is claimed atomically by one message (:meth:`runwire_server.store.Store.claim_run`),
and a run re-enqueued is not re-enqueued again before another grace period.
"""

from __future__ import annotations

import logging
import threading

from runwire_server.queue import RunQueue
from runwire_server.store.sync import SyncStore

log = logging.getLogger("runwire.server")


def requeue_stale_runs(store: SyncStore, queue: RunQueue, grace_s: float) -> int:
    """Enqueue every run ``in queue`` for longer than ``grace_s`` seconds; return how many."""
    total = 0
    while True:
        run_ids = store.touch_stale_queued_runs(grace_s)
        for run_id in run_ids:
            queue.enqueue(run_id)
        total += len(run_ids)
        if len(run_ids) < 1000:
            return total


class StaleRunSweeper:
    """A daemon thread calling :func:`requeue_stale_runs` now and every ``grace_s / 2`` seconds."""

    def __init__(self, store: SyncStore, queue: RunQueue, grace_s: float) -> None:
        self.store, self.queue, self.grace_s = store, queue, grace_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runwire-sweeper", daemon=True)

    def start(self) -> None:
        """Start sweeping (the first sweep happens at once)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping and wait for a sweep in progress."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                found = requeue_stale_runs(self.store, self.queue, self.grace_s)
                if found:
                    log.warning("re-enqueued %d run(s) left in queue for over %g s", found, self.grace_s)
            except Exception as exc:  # store or broker down: try again next time
                log.error("stale-run sweep failed: %s: %s", type(exc).__name__, exc)
            self._stop.wait(max(0.5, self.grace_s / 2))
