"""The SQLite backend: calls made inline on the caller's thread or loop, group commit, a raw fast path.

An SQLite statement takes microseconds, less than a hand-off to a thread, so the async store
calls the synchronous one right where it is awaited (on the server's event loop).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.expression import Executable

from runwire_server.store.protocol import Store
from runwire_server.store.sqlite_fast import SqliteStatement
from runwire_server.store.sync import SyncStore

P = ParamSpec("P")
T = TypeVar("T")


class SqliteSyncStore(SyncStore):
    """The synchronous store on an SQLite file: one connection per thread, writes one at a time."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        super().__init__(url, pool_size)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        """Held by every write, and by every use of the shared hot-path connection."""
        self._compiled: dict[int, SqliteStatement] = {}
        self._shared: PoolProxiedConnection | None = None
        self._schedule_commit: Callable[[Callable[[], None]], object] | None = None
        self.uncommitted = False
        self._lost = False

    def defer_commits(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """Let hot-path writes share commits (group commit).

        A write is left uncommitted; ``schedule`` (the event loop's ``call_soon``) is asked to
        run :meth:`commit_pending` soon, and whatever makes a write visible outside the process
        (a reply) must call :meth:`commit_pending` first. A commit costs ten times the statement
        (file locks and WAL writes), and writes made between two replies then share one.
        Only for a store whose hot path is used from one thread (the server's event loop).
        """
        self._schedule_commit = schedule

    def commit_pending(self) -> None:
        """Commit writes left uncommitted by :meth:`defer_commits` (nothing if none).

        :raises sqlalchemy.exc.DBAPIError: the commit failed, or SQLite had already rolled the
            writes back (a later statement failed with a full disk or an I/O error): whoever
            was about to report them must fail instead.
        """
        if not self.uncommitted:
            return
        with self._write_lock:
            self._commit_pending_locked()

    def _commit_pending_locked(self) -> None:
        """:meth:`commit_pending`, the write lock held by the caller."""
        if not self.uncommitted:
            return
        self.uncommitted = False
        if self._lost:
            self._lost = False
            lost = sqlite3.OperationalError("a failed statement rolled back writes not yet committed")
            raise DBAPIError.instance("COMMIT", {}, lost, sqlite3.Error)
        if self._shared is not None:
            try:
                self._shared.dbapi_connection.commit()  # type: ignore[union-attr]
            except sqlite3.Error as exc:
                raise DBAPIError.instance("COMMIT", {}, exc, sqlite3.Error) from exc

    def _thread_connection(self) -> Connection:
        """This thread's own connection (opened on first use)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._local.conn = self.engine.connect()
        return conn

    def _first(self, statement: Executable, params: dict[str, Any], write: bool = False) -> Any:
        """The first row of one of the hot statements (``None`` if none), in its own transaction.

        It runs compiled once (see :mod:`runwire_server.store.sqlite_fast`) on one raw
        connection shared by all threads, one statement at a time: a connection that sees
        another connection's commit must drop its page cache and re-read the WAL index, which
        costs more than the statement when the API and the workers take turns on each run.
        """
        fast = self._compiled.get(id(statement))
        if fast is None:
            fast = SqliteStatement(statement, self.engine.dialect, list(params))
            self._compiled[id(statement)] = fast
        deferred = write and self._schedule_commit is not None
        with self._write_lock:
            if self._shared is None:
                self._shared = self.engine.raw_connection()
            raw = self._shared.dbapi_connection
            try:
                rows = fast.run(raw, params, commit=write and not deferred)  # type: ignore[arg-type]
            except DBAPIError:
                if self.uncommitted and not raw.in_transaction:  # type: ignore[union-attr]
                    self._lost = True
                raise
            if deferred and not self.uncommitted:
                self.uncommitted = True
                self._schedule_commit(self.commit_pending)  # type: ignore[misc]
        return rows[0] if rows else None

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Connection]:
        """One transaction, committed on success and rolled back on error.

        One connection per thread (a pool checkout costs more than the statement), and writes
        one at a time through a lock in this process: SQLite admits a single writer anyway, and
        a lock hands over in microseconds where SQLite's busy handler sleeps for milliseconds.
        """
        conn = self._thread_connection()
        if not write:
            self.commit_pending()  # this connection sees every deferred write
        with self._write_lock if write else nullcontext():
            # a write commits the deferred writes under the lock: committed before it (outside the
            # lock), the event loop could leave a new one open, holding SQLite's write lock while
            # this thread waits on it and the loop's commit waits on this lock (a busy-timeout stall)
            if write:
                self._commit_pending_locked()
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def close_thread_connection(self) -> None:
        """Close the calling thread's own connection (opened again on its next use)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def dispose(self) -> None:
        """Commit deferred writes; close this thread's connection and every pooled one."""
        self.commit_pending()
        self._schedule_commit = None
        self.close_thread_connection()
        with self._write_lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
        super().dispose()


class SqliteStore(Store):
    """The store on SQLite: every call made inline, where it is awaited (microseconds)."""

    defers_commits = True

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.sync = SqliteSyncStore(url, pool_size)

    async def _call(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return call(*args, **kwargs)

    def inline(self) -> Store:
        """This store: its calls are inline already."""
        return self
