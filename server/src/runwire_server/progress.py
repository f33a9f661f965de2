"""Writing a running run's progress to the store: throttled changes, the terminal state always."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from runwire.engine import RunObserver
from runwire.records import NodeRecord, RunRecord, Status
from runwire_server.events import ended, started
from runwire_server.store import Store

log = logging.getLogger(__name__)
PROGRESS_INTERVAL_S = 0.05
"""Progress of a running run is written at most this often (and not at all for quicker runs)."""


def nodes_json(run: RunRecord) -> dict[str, Any]:
    """A run's node records in the reference's per-node shape."""
    return {node_id: record.to_json() for node_id, record in run.nodes.items()}


class StoreObserver(RunObserver):
    """Persists a run's progress: changes at most every ``interval``, the terminal state always.

    A run that ends within ``interval`` of a change is written once, when it is terminal; a
    longer one shows its finished and running nodes to pollers while it goes on. The start of a
    node in ``unsafe`` (not safe to run twice) is written before the node runs, so a crash
    after it started leaves the trace that keeps the run from starting over.

    Every write carries the run's event log (:mod:`runwire_server.events`), kept here as nodes
    start and end, and continued from ``events`` (what an interrupted execution had logged).
    """

    def __init__(
        self,
        store: Store,
        interval: float = PROGRESS_INTERVAL_S,
        unsafe: frozenset[str] = frozenset(),
        events: list[Any] | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.unsafe = unsafe
        self.run: RunRecord | None = None
        """The run as last reported (what was done when a run is stopped from outside)."""
        self.events: list[Any] = list(events or ())
        """The run's event log, as the next write stores it."""
        self._pending: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None

    def _changed(self, run: RunRecord) -> None:
        self.run = run
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self.interval, self._flush, run)

    def _flush(self, run: RunRecord) -> None:
        self._pending = None
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write_progress(run))
        else:  # the previous write is still going (a slow database): try again later
            self._changed(run)

    async def _write_progress(self, run: RunRecord) -> None:
        try:
            await self.store.save_run(
                run.id, Status.IN_PROGRESS, nodes_json(run), run.total_cost, events=list(self.events)
            )
        except Exception as exc:  # progress is best-effort; the terminal write is not
            log.warning("could not write the progress of run %s: %s", run.id, exc)

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        """Schedule a progress write; for a node in :attr:`unsafe`, write it now.

        :raises Exception: the store failed to record an unsafe node's start (it must not run).
        """
        self.events.append(started(node_id))
        if node_id not in self.unsafe:
            self._changed(run)
            return
        self.run = run
        await self.settle()
        nodes = nodes_json(run)
        await self.store.save_run(run.id, Status.IN_PROGRESS, nodes, run.total_cost, events=list(self.events))
        self.store.sync.commit_pending()  # durable now, not at the end of this loop iteration

    async def node_finished(self, run: RunRecord, record: NodeRecord) -> None:
        """Log the node's end; schedule a progress write."""
        self.events.append(ended(record.id, record.status))
        self._changed(run)

    async def settle(self) -> None:
        """Drop a scheduled progress write and wait for one under way (before the final write,
        which a late progress write would otherwise undo)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
            self._writing = None

    async def run_finished(self, run: RunRecord) -> None:
        """Write the terminal status together with every node result."""
        await self.settle()
        nodes = nodes_json(run)
        await self.store.save_run(run.id, run.status, nodes, run.total_cost, run.error, list(self.events))


def stopped_record(run: RunRecord | None, run_id: str, reason: str) -> RunRecord:
    """A run stopped from outside (a cancel, the time limit) as a record: ``failed`` with
    ``reason``, its unfinished nodes failed with it."""
    nodes = {}
    for node_id, node in (run.nodes if run is not None else {}).items():
        if node.status not in (Status.SUCCEED, Status.SKIPPED):
            node = dataclasses.replace(node, status=Status.FAILED, error=reason)
        nodes[node_id] = node
    cost = run.total_cost if run is not None else 0.0
    return RunRecord(id=run_id, status=Status.FAILED, nodes=nodes, total_cost=cost, error=reason)


def stopped_nodes(run: RunRecord | None, reason: str) -> dict[str, Any]:
    """Node results of a run stopped from outside (:func:`stopped_record`), as stored."""
    return nodes_json(stopped_record(run, run.id if run is not None else "", reason))
