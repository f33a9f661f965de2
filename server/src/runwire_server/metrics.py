"""This process's Prometheus metrics: runs by front door and status, durations, queue depth,
runs in flight and child processes (``GET /metrics``, and a ``runwire worker``'s own port).

Each :class:`~runwire_server.services.Services` holds one :class:`Metrics` with a registry of its
own (several apps in one process, as in tests, never clash). The HTTP metrics come from
Litestar's ``PrometheusMiddleware``, which keeps them in prometheus-client's default registry:
:func:`exposition` adds those of its families named ``runwire_*``. ``docs/metrics.md`` lists
every metric.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from runwire.host import DEFAULT_HOST, HostPolicy
from runwire.records import Status
from runwire_server.long_requests import LongRequests
from runwire_server.metered import MeteredObserver
from runwire_server.openfiles import open_file_limit, open_files
from runwire_server.queue import RunQueue
from runwire_server.trust import WORKFLOW_DOOR, Trust

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from runwire.engine import RunObserver
    from runwire.workflow import PreparedWorkflow
    from runwire_server.settings import Settings
    from runwire_server.store import RunRow, Store, WorkflowHead, WorkflowRow

log = logging.getLogger("runwire.server")
PREFIX = "runwire"
"""Every metric's name starts with ``runwire_`` (the HTTP middleware's ``prefix`` too)."""
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf"))
"""Run and node durations span milliseconds (a template) to an hour (a program's time limit)."""
CANCELLED = "cancelled"
"""The ``status`` label of a run ended by a cancel (seed clients see it ``failed``)."""
FINAL_STATUSES = frozenset({Status.SUCCEED, Status.FAILED, CANCELLED})
"""The ``status`` label values of ``runwire_runs_finished_total``."""
_MAX_REMEMBERED = 4096

disable_created_metrics()  # no ``*_created`` series: Prometheus's text format needs none


def finished_status(status: str | None) -> str:
    """The ``status`` label of a run that ended with ``status`` (``None``: the engine never
    reported an end, e.g. a time limit or an internal error: ``failed``)."""
    return status if status in FINAL_STATUSES else Status.FAILED


class Metrics:
    """One process's run metrics, in :attr:`registry`.

    :param trust: knows the front doors' workflows (the ``door`` label).
    :param queue: the run queue whose waiting runs ``runwire_queue_depth`` counts.
    :param host: whose program slots ``runwire_child_processes`` counts.
    :param long_requests: whose places ``runwire_long_requests`` counts.
    """

    def __init__(
        self,
        trust: Trust | None = None,
        queue: RunQueue | None = None,
        host: HostPolicy = DEFAULT_HOST,
        long_requests: LongRequests | None = None,
    ) -> None:
        self.trust = trust
        self.registry = CollectorRegistry()
        r = self.registry
        self.started = Counter(
            f"{PREFIX}_runs_started",
            "Runs started (queued or, blocking, executed here), by front door.",
            ["door"],
            registry=r,
        )
        self.finished = Counter(
            f"{PREFIX}_runs_finished",
            "Runs this process executed to their end, by front door and final status.",
            ["door", "status"],
            registry=r,
        )
        self.run_seconds = Histogram(
            f"{PREFIX}_run_duration_seconds",
            "Runs from their start (claim) here to their end, by front door.",
            ["door"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.node_seconds = Histogram(
            f"{PREFIX}_node_duration_seconds",
            "Nodes from their start to their end, by node type.",
            ["node_type"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(f"{PREFIX}_runs_in_flight", "Runs executing in this process now.", registry=r)
        depth = Gauge(f"{PREFIX}_queue_depth", "Runs waiting in the run queue.", registry=r)
        depth.set_function(lambda: queue_depth(queue))
        children = Gauge(
            f"{PREFIX}_child_processes", "Programs running as this process's children.", registry=r
        )
        children.set_function(lambda: host.process_slots.in_use)
        waiting = Gauge(
            f"{PREFIX}_long_requests",
            "Event streams, waiting polls and starts, blocking executes held open here now.",
            registry=r,
        )
        waiting.set_function(lambda: long_requests.in_all if long_requests is not None else 0)
        files = Gauge(f"{PREFIX}_open_files", "File descriptors this process holds now.", registry=r)
        files.set_function(lambda: _or_nan(open_files()))
        limit = Gauge(
            f"{PREFIX}_open_files_limit", "This process's open-file limit (soft RLIMIT_NOFILE).", registry=r
        )
        limit.set_function(lambda: _or_nan(open_file_limit()))
        self._project_doors = {project for project, _ in trust.doors} if trust is not None else set()
        self._doors: dict[tuple[int, int], str] = {}

    def door(self, workflow: WorkflowRow | WorkflowHead) -> str:
        """The front door of runs of ``workflow`` (remembered for :meth:`door_of_run`)."""
        door = self.trust.door(workflow.project, workflow.title) if self.trust is not None else WORKFLOW_DOOR
        self._remember((workflow.id, workflow.version), door)
        return door

    def run_started(self, workflow: WorkflowRow | WorkflowHead) -> None:
        """Count a run of ``workflow`` started (stored and enqueued)."""
        self.started.labels(self.door(workflow)).inc()

    async def run_cancelled_queued(self, store: Store, run: RunRow) -> None:
        """Count a queued run a cancel ended before any process executed it."""
        self.finished.labels(await self.door_of_run(store, run), CANCELLED).inc()

    async def door_of_run(self, store: Store, run: RunRow) -> str:
        """The front door of a stored run: read from the store once per workflow version, and
        only for runs in a front door's project (``workflow`` when the store fails)."""
        if run.project not in self._project_doors:
            return WORKFLOW_DOOR
        door = self._doors.get((run.workflow_id, run.workflow_version))
        if door is not None:
            return door
        try:
            head = await store.get_workflow_head(run.workflow_id)
        except Exception as exc:  # the label is not worth failing a run for
            log.warning("metrics: could not read the workflow of run %s: %s", run.id, exc)
            return WORKFLOW_DOOR
        return self.door(head) if head is not None else WORKFLOW_DOOR

    def meter(self, door: str) -> RunMeter:
        """Start timing a run of ``door`` executing here (it counts as in flight until it ends)."""
        return RunMeter(self, door)

    def _remember(self, key: tuple[int, int], door: str) -> None:
        if len(self._doors) >= _MAX_REMEMBERED:
            self._doors.clear()
        self._doors[key] = door


class RunMeter:
    """One run executing in this process: in flight from its creation to :meth:`finish`."""

    def __init__(self, metrics: Metrics, door: str) -> None:
        self.metrics = metrics
        self.door = door
        self.status: str | None = None
        """The run's status as the engine last reported it terminal (``None``: it did not)."""
        self._ended = False
        self.started_at = time.monotonic()
        metrics.in_flight.inc()

    def observe(self, observer: RunObserver, prepared: PreparedWorkflow) -> RunObserver:
        """``observer``, timing each node of ``prepared`` and noting the run's final status."""
        return MeteredObserver(observer, self, prepared)

    def node_done(self, node_type: str, seconds: float) -> None:
        """A node of type ``node_type`` ran for ``seconds``."""
        self.metrics.node_seconds.labels(node_type).observe(seconds)

    def finish(self) -> None:
        """The run ended (as :attr:`status` says; :func:`finished_status`); once, and not after
        :meth:`abandon`."""
        if self._ended:
            return
        self._ended = True
        self.metrics.in_flight.dec()
        self.metrics.finished.labels(self.door, finished_status(self.status)).inc()
        self.metrics.run_seconds.labels(self.door).observe(time.monotonic() - self.started_at)

    def abandon(self) -> None:
        """The run did not end here (its delivery will be retried, the process stops, or a
        cancel ended it before it started, counted by the cancel)."""
        if self._ended:
            return
        self._ended = True
        self.metrics.in_flight.dec()


def _or_nan(value: int | None) -> float:
    return float("nan") if value is None else value


def queue_depth(queue: RunQueue | None) -> float:
    """Runs waiting in ``queue`` (:meth:`RunQueue.depth`); NaN when it cannot be told now."""
    depth = queue.depth() if queue is not None else 0
    return float("nan") if depth is None else depth


class _HttpMetrics(Collector):
    """The ``runwire_*`` families of the default registry: the HTTP middleware's."""

    def collect(self) -> Iterator[Metric]:
        for family in REGISTRY.collect():
            if family.name.startswith(f"{PREFIX}_"):
                yield family

    def describe(self) -> list[Metric]:
        return []


_HTTP = _HttpMetrics()


def exposition(metrics: Metrics) -> bytes:
    """``metrics`` and this process's HTTP metrics in Prometheus's text format."""
    return generate_latest(metrics.registry) + generate_latest(_HTTP)  # type: ignore[arg-type]


def serve_worker_metrics(metrics: Metrics, settings: Settings) -> WSGIServer | None:
    """Serve ``metrics`` on ``RUNWIRE_METRICS_HOST:RUNWIRE_METRICS_PORT`` (``runwire worker``);
    return the server (``shutdown()`` stops it), or ``None``: the port is 0, or taken (a
    warning names the setting; the worker goes on without)."""
    if not settings.metrics or not settings.metrics_port:
        return None
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(settings.metrics_port, settings.metrics_host, registry=metrics.registry)
    except OSError as exc:
        log.warning(
            "metrics not served: %s:%d: %s (set RUNWIRE_METRICS_PORT to a free port, or 0 to turn this off)",
            settings.metrics_host,
            settings.metrics_port,
            exc,
        )
        return None
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return server
