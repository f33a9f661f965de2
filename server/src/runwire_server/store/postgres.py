"""The PostgreSQL backend (any network database SQLAlchemy speaks): pooled connections, calls
made in a worker thread so the event loop never waits on the network."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Connection
from sqlalchemy.sql.expression import Executable

from runwire_server.store.protocol import Store
from runwire_server.store.sync import SyncStore

P = ParamSpec("P")
T = TypeVar("T")


class PostgresSyncStore(SyncStore):
    """The synchronous store on a network database: each call checks a connection out of the pool."""

    def _first(self, statement: Executable, params: dict[str, Any], write: bool = False) -> Any:
        """The first row of ``statement`` (``None`` if none), in its own transaction.

        One statement is a transaction of its own in autocommit mode: the driver then sends no
        ``BEGIN`` and no ``COMMIT``, each a round trip to the database (the hot calls of a run
        are single statements: a run's start, claim, progress, end and reads).
        """
        with self._autocommit() as conn:
            result = conn.execute(statement, params)
            return result.first() if result.returns_rows else None

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Connection]:
        """One transaction on a pooled connection, committed on success and rolled back on error.

        Reads run in autocommit mode, without the ``BEGIN`` and ``COMMIT`` round trips: under
        PostgreSQL's default READ COMMITTED each statement sees what was committed when it
        began, inside a transaction or not, so a read sees the same either way.
        """
        with self._autocommit() if not write else self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        """A pooled connection in autocommit mode: each statement a transaction of its own."""
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn


class PostgresStore(Store):
    """The store on PostgreSQL: every call made in one of anyio's worker threads."""

    defers_commits = False

    sync: PostgresSyncStore

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.sync = PostgresSyncStore(url, pool_size)

    async def _call(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))

    def inline(self) -> Store:
        """A view of this store whose calls block the awaiting thread (a worker thread's own loop)."""
        return InlinePostgresStore(self.sync)


class InlinePostgresStore(Store):
    """The PostgreSQL store called inline: for an event loop that has its thread to itself."""

    defers_commits = False

    def __init__(self, sync: PostgresSyncStore) -> None:
        self.sync = sync

    async def _call(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return call(*args, **kwargs)

    def inline(self) -> Store:
        """This view."""
        return self
