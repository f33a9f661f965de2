"""A run observer that times nodes and notes the run's final status for the metrics.

It wraps the observer that records the run (:class:`~runwire_server.progress.StoreObserver`),
passing every call on unchanged (:class:`~runwire_server.metrics.RunMeter.observe`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from runwire.engine import RunObserver
from runwire.records import NodeRecord, RunRecord

if TYPE_CHECKING:
    from runwire.workflow import PreparedWorkflow
    from runwire_server.metrics import RunMeter


class MeteredObserver(RunObserver):
    """Passes a run's progress to ``inner``; times each node that started (by its workflow
    node's ``type``) and gives ``meter`` the run's status once ``inner`` recorded its end."""

    def __init__(self, inner: RunObserver, meter: RunMeter, prepared: PreparedWorkflow) -> None:
        self.inner = inner
        self.meter = meter
        self.prepared = prepared
        self._started: dict[str, float] = {}

    async def run_started(self, run: RunRecord) -> None:
        """Pass it on."""
        await self.inner.run_started(run)

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        """Note the node's start; pass it on."""
        self._started[node_id] = time.monotonic()
        await self.inner.node_started(run, node_id)

    async def node_finished(self, run: RunRecord, record: NodeRecord) -> None:
        """Observe the node's duration (a node that never started, e.g. skipped, has none); pass it on."""
        started = self._started.pop(record.id, None)
        node = self.prepared.nodes.get(record.id)
        if started is not None and node is not None:
            self.meter.node_done(node.type, time.monotonic() - started)
        await self.inner.node_finished(run, record)

    async def run_finished(self, run: RunRecord) -> None:
        """Pass it on; once recorded, the run's status is its final one."""
        await self.inner.run_finished(run)
        self.meter.status = run.status
