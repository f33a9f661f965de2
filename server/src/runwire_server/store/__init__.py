"""The run store: workflows, runs and API keys in SQLite or PostgreSQL through SQLAlchemy Core.

One module per job: :mod:`.rows` (row types and their JSON shapes), :mod:`.tables` (the schema),
:mod:`.schema` (creating it and changing older stores in place), :mod:`.engine` (engines and
SQLite pragmas), :mod:`.base` (transactions, SQLite group commit and its raw fast path, compiled
by :mod:`.sqlite_fast`), and the methods of :class:`Store` by subject: :mod:`.workflows`,
:mod:`.runs`, :mod:`.keys`.
"""

from __future__ import annotations

from runwire_server.store.base import StoreBase
from runwire_server.store.engine import NETWORK_POOL_OVERFLOW, make_engine
from runwire_server.store.keys import (
    KEY_PREFIX,
    KEY_USE_WRITE_INTERVAL_S,
    ApiKeyMethods,
    StoreApiKeys,
    hash_key,
)
from runwire_server.store.rows import (
    ApiKeyRow,
    ApiKeyStatus,
    RunRow,
    WorkflowHead,
    WorkflowRow,
    iso,
    key_status,
    utcnow,
)
from runwire_server.store.runs import HistoryOrdering, RunFinished, RunMethods
from runwire_server.store.schema import ADDED_COLUMNS, create_schema
from runwire_server.store.workflows import WorkflowMethods


class Store(WorkflowMethods, RunMethods, ApiKeyMethods):
    """Workflows, runs and API keys. One instance per process; thread-safe."""


__all__ = [
    "ADDED_COLUMNS",
    "KEY_PREFIX",
    "KEY_USE_WRITE_INTERVAL_S",
    "NETWORK_POOL_OVERFLOW",
    "ApiKeyMethods",
    "ApiKeyRow",
    "ApiKeyStatus",
    "HistoryOrdering",
    "RunFinished",
    "RunMethods",
    "RunRow",
    "Store",
    "StoreApiKeys",
    "StoreBase",
    "WorkflowHead",
    "WorkflowMethods",
    "WorkflowRow",
    "create_schema",
    "hash_key",
    "iso",
    "key_status",
    "make_engine",
    "utcnow",
]
