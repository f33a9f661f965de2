"""Cancelling runs: the runs this process executes, and the watch that tells them to stop.

``POST /api/v1/runs/{id}/cancel/`` (:mod:`runwire_server.api.run_cancel`) marks the run in the
store (:meth:`~runwire_server.store.runs.RunMethods.cancel_run`): a run ``in queue`` ends there
and then; a run ``in progress`` gets ``cancelled_by``, and the process executing it stops it.

- The process that answered the request stops a run it executes itself at once
  (:meth:`Cancellations.cancel`).
- Every process that executes runs (``runwire serve``, ``runwire worker``, and the blocking
  ``/api/execute/`` in any server) runs a :class:`CancelWatch`: while it executes runs, it asks
  the store every :data:`POLL_INTERVAL_S` which of them were cancelled (one query over their
  ids) and stops those. So a run held by another process (a worker, another server on the same
  database) stops within :data:`POLL_INTERVAL_S` plus the time its nodes take to end.

A run is stopped the way its time limit stops it: the ``asyncio.timeout`` around the engine is
made to expire now (:meth:`Ticket.stop`), which cancels the engine's task; node tasks are
cancelled with it (a program's whole process group is killed), and the executor records the run
``failed`` with ``cancelled by <identity>``, its unfinished nodes failed with the same error.

Races: a cancel that arrives once the engine is writing the run's outcome (every node done) is
too late and is ignored: the run records what really happened (``succeed`` is kept, with
``cancelled_by`` set). A run ended by a cancel is never reopened: the store drops later writes
(:meth:`~runwire_server.store.runs.RunMethods.save_run`). A run whose cancel was recorded before
it started here (the request came first) never starts (:meth:`Cancellations.enter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from runwire.records import TERMINAL, RunRecord
from runwire_server.store.sync import SyncStore

log = logging.getLogger("runwire.server")
POLL_INTERVAL_S = 0.5
"""How often a process executing runs asks the store whether one of them was cancelled."""
MAX_EARLY_REQUESTS = 4096
"""Cancel requests kept for runs not (yet) executing here; the oldest are forgotten first."""


def cancel_reason(by: str) -> str:
    """The error of a cancelled run and of each of its unfinished nodes."""
    return f"cancelled by {by}"


@dataclasses.dataclass(eq=False)
class Ticket:
    """One run executing in this process: its event loop, and how to stop it there."""

    run_id: str
    loop: asyncio.AbstractEventLoop
    reason: str | None = None
    """``cancelled by <identity>`` once the run is to stop."""
    limit: asyncio.Timeout | None = None
    """The ``asyncio.timeout`` around the engine, once it runs (:meth:`arm`)."""
    record: Callable[[], RunRecord | None] = lambda: None
    """The run as the engine last reported it (its status is terminal once it is finishing)."""
    ending: bool = False
    """The executor is writing the run's end itself (it failed before or around the engine):
    the run found finished in the store is its own doing, not a stop to obey."""

    def arm(self, limit: asyncio.Timeout, record: Callable[[], RunRecord | None]) -> None:
        """The engine runs under ``limit`` now; ``record`` gives the run as it goes."""
        self.limit, self.record = limit, record
        if self.reason is not None:  # stopped before the engine started
            limit.reschedule(self.loop.time())

    def stop(self, reason: str) -> None:
        """Stop the run now (call on :attr:`loop`): make its time limit expire, unless it is
        finishing already (the outcome the engine is writing stands) or expired."""
        if self.reason is not None or self.ending:
            return
        run = self.record()
        if run is not None and run.status in TERMINAL:
            return
        if self.limit is not None and self.limit.expired():
            return
        self.reason = reason
        if self.limit is not None:
            with contextlib.suppress(RuntimeError):  # the engine just returned: nothing to stop
                self.limit.reschedule(self.loop.time())


class Cancellations:
    """The runs this process is executing, by id, and cancel requests for them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Ticket] = {}
        self._early: OrderedDict[str, str] = OrderedDict()

    def enter(self, run_id: str) -> Ticket:
        """Register run ``run_id``, about to execute on the running event loop; its ticket's
        :attr:`~Ticket.reason` is set already when a cancel came first (it must not start)."""
        ticket = Ticket(run_id, asyncio.get_running_loop())
        with self._lock:
            ticket.reason = self._early.pop(run_id, None)
            self._running[run_id] = ticket
        return ticket

    def leave(self, ticket: Ticket) -> None:
        """The run of ``ticket`` is no longer executing here."""
        with self._lock:
            if self._running.get(ticket.run_id) is ticket:
                del self._running[ticket.run_id]

    def running(self) -> list[str]:
        """Ids of the runs executing here now."""
        with self._lock:
            return list(self._running)

    def executing(self, run_id: str) -> bool:
        """Whether run ``run_id`` executes in this process now."""
        with self._lock:
            return run_id in self._running

    def cancel(self, run_id: str, by: str) -> bool:
        """Stop run ``run_id`` if it executes here (``True``), else remember the request in case it
        starts here later. Callable from any thread."""
        reason = cancel_reason(by)
        with self._lock:
            ticket = self._running.get(run_id)
            if ticket is None:
                self._early[run_id] = reason
                self._early.move_to_end(run_id)
                while len(self._early) > MAX_EARLY_REQUESTS:
                    self._early.popitem(last=False)
                return False
        with contextlib.suppress(RuntimeError):  # its loop closed: the run is over
            ticket.loop.call_soon_threadsafe(ticket.stop, reason)
        return True


class CancelWatch:
    """A daemon thread: while this process executes runs, it polls the store every ``interval``
    for those cancelled (by a request another process answered) and stops them."""

    def __init__(self, store: SyncStore, cancellations: Cancellations, interval: float = POLL_INTERVAL_S):
        self.store, self.cancellations, self.interval = store, cancellations, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="runwire-cancel-watch", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for a poll under way)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def poll(self) -> int:
        """One round: stop the runs executing here that were cancelled; return how many were found."""
        found = self.store.cancel_requests(self.cancellations.running())
        for run_id, by in found:
            self.cancellations.cancel(run_id, by)
        return len(found)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                if not self.cancellations.running():
                    continue
                try:
                    self.poll()
                except Exception as exc:  # the store is down: try again next time
                    log.warning("could not look for cancelled runs: %s: %s", type(exc).__name__, exc)
        finally:
            self.store.close_thread_connection()
