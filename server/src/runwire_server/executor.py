"""Executes stored runs by id: on the server's event loop (embedded) or in Dramatiq worker threads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from runwire.engine import DEFAULT_MAX_RESULT_BYTES, Engine
from runwire.errors import WorkflowInvalid
from runwire.host import DEFAULT_HOST, HostPolicy
from runwire.plugins import Plugins
from runwire.records import Status
from runwire_server.cancellation import Cancellations, Ticket, cancel_reason
from runwire_server.interrupted import RerunPolicy, interrupted_nodes, interruption, unsafe_nodes
from runwire_server.metrics import CANCELLED, Metrics, RunMeter
from runwire_server.prepared import PreparedCache
from runwire_server.progress import StoreObserver, stopped_nodes
from runwire_server.store import RunRow, Store
from runwire_server.trust import RunRefused

log = logging.getLogger(__name__)


def internal_error_text(exc: BaseException) -> str:
    """What a run's ``error`` says about an internal error that stopped it: its kind, not its
    message, which can quote the server's internals to the run's readers (a database error holds
    the SQL statement and its parameters). The whole error goes to the server's log."""
    return f"internal error ({type(exc).__name__}); the server's log has the details"


class RunExecutor:
    """Loads a run and its workflow from the store, executes it and records the outcome.

    :meth:`execute` is the one path every run takes: on the server's event loop in embedded
    mode (:mod:`runwire_server.queue.embedded`), and through :meth:`__call__`, the Dramatiq actor, in
    ``runwire worker`` threads, each with its own event loop. The engine and the
    prepared-workflow cache are shared.
    """

    def __init__(
        self,
        store: Store,
        plugins: Plugins,
        cache: PreparedCache | None = None,
        time_limit_s: float = 3600.0,
        host: HostPolicy = DEFAULT_HOST,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        max_run_bytes: int | None = None,
        rerun_policy: RerunPolicy = "safe",
        process_id: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.process_id = process_id
        """This process's lease id: a worker's claims are ``<process id>:<message id>``."""
        self.inline_store = store.inline()
        """The store as worker threads call it: inline, each on its own event loop."""
        self.plugins = plugins
        self.cache = cache or PreparedCache(plugins)
        self.time_limit_s = time_limit_s
        self.engine = Engine(host=host, max_result_bytes=max_result_bytes, max_run_bytes=max_run_bytes)
        self.rerun_policy: RerunPolicy = rerun_policy
        """Which interrupted runs start over (``RUNWIRE_RERUN_INTERRUPTED``)."""
        self.metrics = metrics or Metrics()
        """Where runs executed here are counted and timed (:mod:`runwire_server.metrics`)."""
        self._local = threading.local()
        self.cancellations = Cancellations()
        """The runs executing in this process, to stop them when cancelled."""

    async def execute(
        self, run_id: str, claimant: str, stored: RunRow | None = None, store: Store | None = None
    ) -> None:
        """Execute run ``run_id`` unless another claimant has it, or it is terminal or gone.

        ``claimant`` identifies this delivery of the run (a queue message): duplicates are
        no-ops, while the same delivery repeated (its worker died) or a run put back in the
        queue by recovery starts over, unless a node not safe to repeat had started: then it
        ends ``failed``, interrupted (:mod:`runwire_server.interrupted`). A run
        passed as ``stored`` was stored claimed by ``claimant`` (embedded mode, the process that
        stored it): it is neither claimed again nor read back, and shows ``in queue`` until its
        first progress write. Store calls go to ``store`` (default: :attr:`store`). Every failure
        of the run is recorded on it; an exception escapes only when the store itself fails (the delivery
        should be retried). A cancelled run stops (:mod:`runwire_server.cancellation`).
        """
        store = store or self.store
        run = stored if stored is not None else await store.claim_run(run_id, claimant)
        if run is None:
            return
        meter = self.metrics.meter(await self.metrics.door_of_run(store, run))
        ticket = self.cancellations.enter(run_id)
        try:
            await self._execute_claimed(run, store, meter, ticket)
        except BaseException:  # the store failed (the delivery is retried) or the process stops
            meter.abandon()
            raise
        finally:
            self.cancellations.leave(ticket)
        if ticket.reason is not None:
            meter.status = CANCELLED
        meter.finish()  # once: a meter abandoned above is not counted again

    async def _execute_claimed(self, run: RunRow, store: Store, meter: RunMeter, ticket: Ticket) -> None:
        """Execute ``run``, claimed by this delivery, to its end, recording every outcome."""
        run_id = run.id

        async def fail(nodes: dict[str, Any], error: str, events: list[Any] | None = None) -> None:
            ticket.ending = True  # the watch may see it finished now: it is this executor's end
            await store.save_run(run_id, Status.FAILED, nodes, 0.0, error, events)

        if ticket.reason is None and run.cancelled_by is not None:  # cancelled, then recovered
            ticket.reason = cancel_reason(run.cancelled_by)
        if ticket.reason is not None:  # cancelled before it started here (the cancel counted it)
            meter.abandon()
            nodes = interrupted_nodes(run.nodes, ticket.reason)
            await fail(nodes, ticket.reason)
            return
        try:
            prepared = await self.cache.load_async(store, run.workflow_id, run.workflow_version)
        except WorkflowInvalid as exc:
            await fail({}, f"workflow is invalid: {exc}")
            return
        except RunRefused as exc:
            await fail({}, f"refused: {exc}")
            return
        if prepared is None:
            error = "the workflow was deleted before the run started"
            await fail({}, error)
            return
        if run.nodes:  # an interrupted execution left these: start over only when that is safe
            stop = interruption(prepared, run.nodes, self.rerun_policy)
            if stop is not None:
                log.warning("run %s %s", run_id, stop)
                await fail(interrupted_nodes(run.nodes, stop), stop)
                return
            await store.save_run(run_id, Status.IN_PROGRESS, {}, 0.0)
        unsafe = unsafe_nodes(prepared, self.rerun_policy)
        observer = StoreObserver(store, unsafe=unsafe, events=run.events)  # a log is continued
        metered = meter.observe(observer, prepared)  # the metrics' view of the same progress
        try:
            async with asyncio.timeout(self.time_limit_s) as limit:
                ticket.arm(limit, lambda: observer.run)
                await self.engine.execute(prepared, run.input, run_id=run_id, observer=metered)
        except TimeoutError:
            await observer.settle()
            error = f"the run exceeded its time limit of {self.time_limit_s:g} s (RUNWIRE_RUN_TIME_LIMIT_S)"
            error = ticket.reason or error
            nodes = stopped_nodes(observer.run, error)
            await fail(nodes, error, observer.events)
        except Exception as exc:
            log.exception("run %s stopped by an internal error", run_id)
            error = internal_error_text(exc)
            await observer.settle()
            await fail({}, error, observer.events)

    def __call__(self, run_id: str) -> None:
        """The Dramatiq actor: :meth:`execute` on this worker thread's own event loop, claimed
        for the current queue message by this process (``<process id>:<message id>``: the
        run's owner is dead once this process's lease expires)."""
        from dramatiq.middleware import CurrentMessage  # here: no Dramatiq in a server without a broker

        message = CurrentMessage.get_current_message()
        loop = self._loop()
        try:
            delivery = message.message_id if message is not None else ""
            claimant = f"{self.process_id}:{delivery}"
            if message is not None and message.options.get("retries"):
                # Dramatiq retries a message on any worker: the run it claimed becomes this one's
                loop.run_until_complete(self.inline_store.adopt_claim(run_id, delivery, claimant))
            loop.run_until_complete(self.execute(run_id, claimant, store=self.inline_store))
        except BaseException:
            self._local.loop = None  # a loop an exception went through is not reused
            with contextlib.suppress(Exception):
                loop.close()
            raise

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            self._local.loop = loop
        return loop
