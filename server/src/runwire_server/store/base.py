"""The synchronous store's foundation: an engine, and the two ways a method reaches the database.

The workflow, run and API-key methods (:mod:`.workflows`, :mod:`.runs`, :mod:`.keys`) are the
same SQL on every backend, written against :meth:`StoreBase._transaction` (one transaction) and
:meth:`StoreBase._first` (one hot statement); each backend (:mod:`.sqlite`, :mod:`.postgres`)
says how those two run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.sql.expression import Executable

from runwire_server.store.engine import make_engine
from runwire_server.store.schema import SchemaUpgrade, upgrade_schema


class StoreBase(ABC):
    """A database's engine, its transactions and its schema. One instance per process; thread-safe."""

    uncommitted: bool = False
    """Writes are waiting for :meth:`commit_pending` (only a backend that defers commits)."""
    run_ended: Callable[[str], None] | None = None
    """Called with a run's id after this store wrote it terminal (any thread; the server's
    long-polls listen: :mod:`runwire_server.run_endings`)."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)

    @abstractmethod
    def _transaction(self, write: bool = False) -> AbstractContextManager[Connection]:
        """One transaction, committed on success and rolled back on error."""

    @abstractmethod
    def _first(self, statement: Executable, params: dict[str, Any], write: bool = False) -> Any:
        """The first row of one of the hot statements (``None`` if none), in its own transaction."""

    def defer_commits(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Let hot-path writes share commits, where the backend can (see :mod:`.sqlite`); else nothing."""
        return None

    def _ended(self, run_id: str) -> None:
        """Tell :attr:`run_ended` that ``run_id`` was written terminal."""
        if self.run_ended is not None:
            self.run_ended(run_id)

    def commit_pending(self) -> None:
        """Commit writes left uncommitted by :meth:`defer_commits` (nothing if none)."""
        return None

    def close_thread_connection(self) -> None:
        """Close the calling thread's own connection, where the backend keeps one (a thread
        that is about to end); else nothing."""
        return None

    def create_schema(self) -> SchemaUpgrade:
        """Bring the schema to the newest revision, under the migration lock (see
        :func:`~runwire_server.store.schema.upgrade_schema`)."""
        return upgrade_schema(self.engine)

    def dispose(self) -> None:
        """Close every connection (pooled or not) of this store."""
        self.engine.dispose()

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self._transaction() as conn:
            conn.execute(text("SELECT 1"))
