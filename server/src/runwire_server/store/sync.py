"""The synchronous store: every workflow, run, API-key, lease and idempotency-key method, blocking
the calling thread.

A backend subclasses it with its transactions (:mod:`.sqlite`, :mod:`.postgres`); the async
:class:`runwire_server.store.Store` calls it, and sync callers reach it as ``store.sync``.
"""

from __future__ import annotations

from runwire_server.store.idempotency import IdempotencyMethods
from runwire_server.store.keys import ApiKeyMethods
from runwire_server.store.leases import LeaseMethods
from runwire_server.store.retention import RetentionMethods
from runwire_server.store.run_lists import RunListMethods
from runwire_server.store.runs import RunMethods
from runwire_server.store.workflows import WorkflowMethods


class SyncStore(
    WorkflowMethods,
    RunMethods,
    RunListMethods,
    ApiKeyMethods,
    LeaseMethods,
    RetentionMethods,
    IdempotencyMethods,
):
    """Workflows, runs, API keys, process leases, retention and idempotency keys, one blocking
    call each. One instance per process; thread-safe."""
