"""What one server or worker process holds: settings, plugins, store, queue, auth, executor.

Built once at boot (the plugin registry is never rebuilt per request or per run).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from runwire.auth import AuthProvider, AuthServices
from runwire.errors import ConfigInvalid
from runwire.host import HostPolicy
from runwire.plugins import Plugins
from runwire_server import hookspecs
from runwire_server.cancellation import CancelWatch
from runwire_server.executor import RunExecutor
from runwire_server.extensions import ServerHooks
from runwire_server.hostsetup import build_host_policy, open_store, release_rundir_root
from runwire_server.long_requests import LongRequests
from runwire_server.metrics import Metrics
from runwire_server.prepared import PreparedCache
from runwire_server.queue import LoopQueue, RunQueue
from runwire_server.reconciler import Lease, Reconciler, new_process_id, release_orphaned_runs
from runwire_server.retention import RetentionSweep
from runwire_server.run_endings import RunEndings
from runwire_server.settings import Settings
from runwire_server.store import RunRow, Store, StoreApiKeys
from runwire_server.trust import Trust, parse_projects

log = logging.getLogger("runwire.server")
BACKSTOP_S = 60
"""Dramatiq's own time limit on the actor, beyond the run's limit the executor enforces."""
STOP_GRACE_S = 10.0
"""How long stopping waits for running runs before they are left to the next start."""

OPEN_API_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! RUNWIRE_AUTH_PROVIDERS includes 'none': the API accepts EVERY request without     !!
!! credentials, with access to every project. Use this for local development only.   !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


@dataclass
class Services:
    """The long-lived objects of one process; route handlers get it as ``services``."""

    settings: Settings
    plugins: Plugins
    store: Store
    broker: Any
    """The Dramatiq broker of the distributed mode; ``None`` in embedded mode. Typed ``Any``
    (as ``worker``): Dramatiq is imported only when a broker is configured, and Litestar
    resolves these annotations at run time."""
    queue: RunQueue
    auth_providers: list[AuthProvider]
    cache: PreparedCache
    executor: RunExecutor
    trust: Trust
    """The operator's grants: where privileged nodes may be, what the API may not set."""
    host: HostPolicy
    """The operator's terms for programs: run-as user, this process's run-directory root."""
    process_id: str = ""
    """This process's id: its lease's row, the prefix of every claim it makes."""
    worker: Any = None
    """``runwire worker``'s Dramatiq worker threads, once started."""
    reconciler: Reconciler | None = None
    """The lease and recovery thread, once started (:meth:`start_reconciler`)."""
    metrics: Metrics = field(default_factory=Metrics)
    """This process's run metrics (``GET /metrics``; :mod:`runwire_server.metrics`)."""
    cancel_watch: CancelWatch | None = None
    """The thread stopping runs executing here that another process cancelled (with the reconciler)."""
    long_requests: LongRequests = field(default_factory=LongRequests)
    """The cap on this process's event streams and waiting requests (:mod:`runwire_server.long_requests`)."""
    endings: RunEndings = field(default_factory=RunEndings)
    """The long-polls waiting here for runs to end (:mod:`runwire_server.run_endings`); their
    waits are held in :attr:`long_requests`."""
    announces_ends: bool = False
    """Whether runs written terminal here are announced on the broker (``runwire worker``)."""

    def __post_init__(self) -> None:
        # one cap per process: the waits of :attr:`endings` are counted in :attr:`long_requests`
        # (and so in its metric) however the two were made
        self.endings.limits = self.long_requests

    @cached_property
    def node_schemas(self) -> list[dict[str, Any]]:
        """One schema per registered node type (``get_nodes``), built on first use."""
        return [impl.schema() for _, impl in self.plugins.node_types]

    @property
    def embedded(self) -> bool:
        """Whether runs execute inside this process (on its event loop)."""
        return self.broker is None

    def run_ended(self, run_id: str) -> None:
        """A run was written terminal here: wake this process's long-polls; a ``runwire worker``
        also announces it to the servers' (:mod:`runwire_server.queue.endings`).

        A server does not announce the runs it ends itself (a cancel, an execution update): it
        writes on its event loop, which must not wait on the broker; another server's polls
        learn of those from the store within a second."""
        self.endings.ended(run_id)
        if self.announces_ends:
            self.queue.announce_ended(run_id)

    def start_worker(self) -> None:
        """Start Dramatiq worker threads in this process (``runwire worker``)."""
        if self.broker is None:
            raise ConfigInvalid("worker threads need a broker (RUNWIRE_BROKER_URL)")
        from runwire_server.queue.broker import declare_run_actor, queue_name, start_worker

        self.start_reconciler("worker")
        self.announces_ends = True  # its runs end in its worker threads, off any server's loop
        name = queue_name(self.settings)
        declare_run_actor(self.broker, self.executor, self.settings.run_time_limit_s + BACKSTOP_S, name)
        self.worker = start_worker(self.broker, self.settings.worker_threads, name)

    async def execute_here(self, run_id: str, claimant: str, stored: RunRow | None) -> None:
        """Execute a run on this event loop (embedded mode)."""
        await self.executor.execute(run_id, claimant, stored)

    async def start_embedded(self) -> None:
        """Embedded mode: start executing runs on the running event loop."""
        if isinstance(self.queue, LoopQueue):
            await self.queue.start(self.execute_here)

    async def stop_embedded(self) -> None:
        """Embedded mode: let running runs finish (10 s at most; the rest run again at the next start)."""
        if isinstance(self.queue, LoopQueue):
            await self.queue.stop(timeout_s=STOP_GRACE_S)

    def lease(self, kind: str) -> Lease:
        """This process's lease terms, as a ``kind`` (``serve`` or ``worker``) process."""
        settings = self.settings
        return Lease(
            self.process_id,
            kind,
            settings.heartbeat_s,
            settings.process_timeout_s,
            settings.requeue_after_s,
            self.embedded,
        )

    def start_reconciler(self, kind: str) -> None:
        """Take this process's lease (blocking: before it claims any run) and start the
        reconciler thread keeping it and recovering the runs of dead processes; and the watch for
        cancelled runs (:mod:`runwire_server.cancellation`)."""
        retention_s = self.settings.run_retention_s
        sweep = RetentionSweep(retention_s, self.settings.retention_sweep_s) if retention_s else None
        self.reconciler = Reconciler(self.store.sync, self.queue, self.lease(kind), sweep)
        self.reconciler.renew()
        self.reconciler.start()
        self.cancel_watch = CancelWatch(self.store.sync, self.executor.cancellations)
        self.cancel_watch.start()

    async def recover_unfinished_runs(self) -> int:
        """Embedded start-up (blocking, before the server listens): take over and enqueue the
        runs left ``in queue``/``in progress`` by dead processes (their lease expired; a live
        server's runs on a shared store are left alone); return how many."""
        return release_orphaned_runs(self.store.sync, self.queue, self.lease("serve"))

    def close(self) -> None:
        """Stop worker threads and the reconciler (dropping the lease), close the broker and the
        store's connections."""
        if self.worker is not None:
            self.worker.stop(timeout=int(STOP_GRACE_S * 1000))
            self.worker = None
        if self.reconciler is not None:
            self.reconciler.stop()
            self.reconciler = None
        if self.cancel_watch is not None:
            self.cancel_watch.stop()
            self.cancel_watch = None
        if self.broker is not None:
            self.broker.close()
        self.store.dispose()
        release_rundir_root(self.host)


def build_auth_providers(settings: Settings, plugins: Plugins, store: Store) -> list[AuthProvider]:
    """Instantiate the configured auth providers, in order.

    :raises ConfigInvalid: a configured provider is not installed.
    """
    services = AuthServices(
        settings=settings.provider_settings(), api_keys=StoreApiKeys(store), plugin_settings=plugins.settings
    )
    providers = []
    for name in settings.provider_names:
        cls = plugins.auth_providers.get(name)
        if cls is None:
            known = ", ".join(sorted(k for k, _ in plugins.auth_providers))
            raise ConfigInvalid(
                f"RUNWIRE_AUTH_PROVIDERS names {name!r}, which is not installed (known: {known})"
            )
        providers.append(cls(services))
    return providers


def build_services(settings: Settings, plugins: Plugins | None = None) -> Services:
    """Build a process's services from ``settings`` (creates the store's tables).

    Plugins are loaded with the server's hookspecs; the workflows front doors declare as theirs
    (``register_managed_workflows``) are exempt from the API's trust checks.
    """
    plugins = plugins or Plugins.load(host_specs=[hookspecs])
    for error in plugins.load_errors:
        log.error("%s", error)
    privileged = parse_projects(settings.privileged_projects)
    host = build_host_policy(settings, privileged is None or bool(privileged))
    try:
        return _build_services(settings, plugins, privileged, host)
    except BaseException:  # e.g. an auth provider not installed: no services to release the root
        release_rundir_root(host)
        raise


def _build_services(
    settings: Settings, plugins: Plugins, privileged: frozenset[int] | None, host: HostPolicy
) -> Services:
    store = open_store(settings, pool_size=settings.worker_threads + 4)
    broker = None
    if settings.broker_url:
        from runwire_server.queue.broker import make_broker

        broker = make_broker(settings)
    trust = Trust(privileged, plugins, ServerHooks(plugins).doors())
    cache = PreparedCache(
        plugins, gate=trust.gate, max_nodes=settings.max_nodes, max_edges=settings.max_edges
    )
    providers = build_auth_providers(settings, plugins, store)
    if "none" in settings.provider_names:
        log.warning("%s", OPEN_API_WARNING)
    elif "api-key" in settings.provider_names and not settings.api_keys.strip():
        log.info(
            "RUNWIRE_API_KEYS is empty: only keys made by `runwire keys create --project N` are accepted"
        )
    process_id = new_process_id()
    queue: RunQueue
    if broker is not None:
        from runwire_server.queue.broker import BrokerQueue, queue_name

        queue = BrokerQueue(broker, queue_name(settings), settings.queue_max, settings.broker_namespace)
    else:
        queue = LoopQueue(settings.worker_threads, settings.queue_max, owner=process_id)
    long_requests = LongRequests(settings.long_requests_per_principal, settings.max_long_requests)
    metrics = Metrics(trust, queue, host, long_requests)
    services = Services(
        settings=settings,
        plugins=plugins,
        store=store,
        broker=broker,
        queue=queue,
        auth_providers=providers,
        cache=cache,
        executor=RunExecutor(
            store,
            plugins,
            cache,
            settings.run_time_limit_s,
            host,
            max_result_bytes=settings.max_result_bytes,
            max_run_bytes=settings.max_run_bytes,
            rerun_policy=settings.rerun_interrupted,
            process_id=process_id,
            metrics=metrics,
        ),
        trust=trust,
        host=host,
        process_id=process_id,
        metrics=metrics,
        long_requests=long_requests,
        endings=RunEndings(long_requests),
    )
    store.sync.run_ended = services.run_ended
    return services
