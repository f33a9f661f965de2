"""The run store: workflows, runs and API keys in SQLite or PostgreSQL through SQLAlchemy Core.

:class:`Store` (defined in :mod:`.protocol`, re-exported here) is what every backend provides,
async at its boundary: callers write
``await store.get_run(run_id)``. :func:`open_database` picks the backend by URL scheme:

- :mod:`.sqlite`: calls made inline where they are awaited (microseconds, less than a thread
  hand-off), one raw connection shared by the hot statements (:mod:`.sqlite_fast`) and group
  commit (:meth:`SyncStore.defer_commits`, used by :mod:`runwire_server.api.commit_barrier`);
- :mod:`.postgres`: pooled connections, each call made in a worker thread.

The SQL is shared: :mod:`.rows` (row types), :mod:`.tables` (the schema), :mod:`.schema`
(bringing a store to it: the Alembic revisions of :mod:`.migrations`, applied under a lock),
:mod:`.engine` (engines, SQLite pragmas), and the synchronous methods by subject
(:mod:`.workflows`, :mod:`.runs`, :mod:`.keys`) over :mod:`.base`, composed as
:class:`~runwire_server.store.sync.SyncStore`.

Sync access: every backend is a synchronous store (``store.sync``) plus a way of calling it.
Code with no event loop (the CLI, start-up, the reconciler thread, the group-commit barrier's loop
callbacks) calls ``store.sync`` directly. An event loop that has its thread to itself (a
Dramatiq worker thread's) uses ``store.inline()``: the same async API, called without a
thread hop. Everything else awaits the store itself.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from runwire_server.store.engine import NETWORK_POOL_OVERFLOW, make_engine
from runwire_server.store.keys import KEY_PREFIX, KEY_USE_WRITE_INTERVAL_S, StoreApiKeys, hash_key
from runwire_server.store.protocol import Store
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
from runwire_server.store.run_lists import HistoryOrdering
from runwire_server.store.runs import RunFinished
from runwire_server.store.schema import SchemaTooNew, SchemaUpgrade, upgrade_schema


def open_database(url: str, pool_size: int = 10) -> Store:
    """The store at SQLAlchemy ``url``: SQLite for ``sqlite://``, else the pooled network backend.

    The schema is not created or upgraded (:meth:`Store.create_schema`).
    """
    if make_url(url).get_backend_name() == "sqlite":
        from runwire_server.store.sqlite import SqliteStore

        return SqliteStore(url, pool_size)
    from runwire_server.store.postgres import PostgresStore

    return PostgresStore(url, pool_size)


__all__ = [
    "KEY_PREFIX",
    "KEY_USE_WRITE_INTERVAL_S",
    "NETWORK_POOL_OVERFLOW",
    "ApiKeyRow",
    "ApiKeyStatus",
    "HistoryOrdering",
    "RunFinished",
    "RunRow",
    "SchemaTooNew",
    "SchemaUpgrade",
    "Store",
    "StoreApiKeys",
    "WorkflowHead",
    "WorkflowRow",
    "hash_key",
    "iso",
    "key_status",
    "make_engine",
    "open_database",
    "upgrade_schema",
    "utcnow",
]
