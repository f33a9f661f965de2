"""Leases and recovery: every ``runwire serve`` and ``runwire worker`` runs a reconciler thread.

Each tick (every ``RUNWIRE_HEARTBEAT_S``) it

1. renews this process's lease (its row in ``runwire_processes``);
2. releases the runs whose owner process is dead (its lease older than
   ``RUNWIRE_PROCESS_TIMEOUT_S``: killed, machine lost, or stopped cleanly) and enqueues them
   again: whatever happened to the broker's data, such a run is executed again by a live
   process (which decides, when it claims it, whether it may run again);
3. deletes idempotency keys past their 24 hours (at most once a minute);
4. distributed mode: enqueues again runs still ``in queue`` without an owner (their message
   may be lost: a server died between storing and enqueueing, Redis restarted empty) after
   ``RUNWIRE_PROCESS_TIMEOUT_S`` when the broker's queue is empty (every message delivered), else
   after ``RUNWIRE_REQUEUE_AFTER_S`` (a long backlog is not enqueued twice);
4. with ``RUNWIRE_RUN_RETENTION``, deletes finished runs past it (:mod:`runwire_server.retention`);
5. warns while the process is short of file descriptors (:mod:`runwire_server.openfiles`).

Every step is an atomic statement, so any number of reconcilers share a store; a duplicate
message is harmless: a run is claimed atomically by one delivery.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass

from runwire_server.openfiles import OpenFilesWatch
from runwire_server.queue import RunQueue
from runwire_server.retention import RetentionSweep
from runwire_server.store.idempotency import IDEMPOTENCY_WINDOW_S
from runwire_server.store.sync import SyncStore

log = logging.getLogger("runwire.server")
FORGET_AFTER_S = 86_400.0
"""Rows of processes silent this long are deleted."""
PURGE_EVERY_S = 60.0
"""How often expired idempotency keys are deleted."""


def new_process_id() -> str:
    """A random id for this process start (the prefix of every claim it makes)."""
    return os.urandom(6).hex()


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


@dataclass
class Lease:
    """Who this process is and how its lease is kept."""

    process_id: str
    kind: str
    """``serve`` or ``worker``."""
    heartbeat_s: float
    timeout_s: float
    requeue_after_s: float
    embedded: bool
    """Embedded mode: runs waiting are held by this process (released ones are claimed for it)."""


def release_orphaned_runs(store: SyncStore, queue: RunQueue, lease: Lease) -> int:
    """Release and enqueue again every unfinished run of a dead process; return how many.

    Embedded mode takes runs held by no process too, and holds the released runs itself (they
    wait in this process's queue, so no other process takes them meanwhile).
    """
    claim_as = f"{lease.process_id}:recovered" if lease.embedded else None
    total = 0
    while True:
        run_ids = store.release_orphaned_runs(lease.timeout_s, unowned=lease.embedded, claim_as=claim_as)
        for run_id in run_ids:
            queue.enqueue(run_id)
        total += len(run_ids)
        if len(run_ids) < 1000:
            return total


class Reconciler:
    """A daemon thread keeping this process's lease and recovering the runs of dead processes."""

    def __init__(
        self, store: SyncStore, queue: RunQueue, lease: Lease, retention: RetentionSweep | None = None
    ) -> None:
        self.store, self.queue, self.lease = store, queue, lease
        self.retention = retention
        """Deletes old finished runs (``RUNWIRE_RUN_RETENTION``); ``None``: runs are kept."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runwire-reconciler", daemon=True)
        self._ticks = 0
        self._next_purge = 0.0
        self._files = OpenFilesWatch()

    def renew(self) -> None:
        """Renew this process's lease now (blocking; raises if the store fails)."""
        self.store.heartbeat(self.lease.process_id, self.lease.kind, socket.gethostname(), os.getpid())

    def start(self) -> None:
        """Start the thread (its first tick happens at once)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and drop this process's lease (what it still holds is released at once)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            self.store.forget_process(self.lease.process_id)
        except Exception as exc:
            log.warning("could not drop this process's lease: %s: %s", type(exc).__name__, exc)

    def tick(self) -> None:
        """One round: renew the lease, release orphaned runs, sweep runs whose message is lost."""
        self._files.check()  # first: short of descriptors, the store's calls may fail
        self.renew()
        found = release_orphaned_runs(self.store, self.queue, self.lease)
        if found:
            log.warning("re-enqueued %d run(s) left unfinished by a dead process", found)
        if not self.lease.embedded:
            grace = self._queued_grace()
            found = requeue_stale_runs(self.store, self.queue, grace)
            if found:
                log.warning("re-enqueued %d run(s) left in queue for over %g s", found, grace)
        if self.retention is not None:
            self.retention.maybe_sweep(self.store)
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_S
            self.store.purge_idempotency_keys(IDEMPOTENCY_WINDOW_S)
        self._ticks += 1
        if self._ticks % 1000 == 0:
            self.store.forget_dead_processes(FORGET_AFTER_S)

    def _queued_grace(self) -> float:
        """How long a run may stay ``in queue`` before it is enqueued again: short when the
        broker's queue is empty (its message cannot be waiting there)."""
        broker = sys.modules.get("runwire_server.queue.broker")  # loaded if a BrokerQueue exists
        if broker is not None and isinstance(self.queue, broker.BrokerQueue):
            try:
                if self.queue.waiting() == 0:
                    return min(self.lease.timeout_s, self.lease.requeue_after_s)
            except Exception as exc:  # broker down: the enqueues would fail too
                log.debug("could not count the waiting runs: %s", exc)
        return self.lease.requeue_after_s

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # store or broker down: try again next time
                    log.error("reconciler round failed: %s: %s", type(exc).__name__, exc)
                self._stop.wait(self.lease.heartbeat_s)
        finally:
            self.store.close_thread_connection()
