"""The PostgreSQL backend (any network database SQLAlchemy speaks): pooled connections, calls
made in a worker thread so the event loop never waits on the network."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, text
from sqlalchemy.sql.expression import Executable

from runwire_server.store.protocol import Store
from runwire_server.store.sync import SyncStore

log = logging.getLogger("runwire.server")
P = ParamSpec("P")
T = TypeVar("T")


RUN_ENDED_CHANNEL = "runwire_run_ended"
"""The PostgreSQL channel a run's id is sent on once it is written terminal."""
_NOTIFY_ENDED = text(f"SELECT pg_notify('{RUN_ENDED_CHANNEL}', :rid)")


class PostgresSyncStore(SyncStore):
    """The synchronous store on a network database: each call checks a connection out of the pool."""

    def _ended(self, run_id: str) -> None:
        """Tell this process, and every process listening (:meth:`listen_ended`), after the commit:
        a listener that reads the run reads it terminal."""
        super()._ended(run_id)
        if self.tell_other_processes:
            self._first(_NOTIFY_ENDED, {"rid": run_id})

    def listen_ended(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """``LISTEN`` on a connection of its own, in a daemon thread that calls ``callback`` with
        each ended run's id (reconnecting after a lost connection; runs ended meanwhile are not
        told, so waiting polls answer when their wait is over). Returns once it listens (or
        after 5 s of trying)."""
        stop, listening = threading.Event(), threading.Event()
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        thread = threading.Thread(
            target=_listen, args=(url, callback, stop, listening), name="runwire-run-endings", daemon=True
        )
        thread.start()
        listening.wait(5.0)

        def stop_listening() -> None:
            stop.set()
            thread.join(2 * LISTEN_POLL_S)

        return stop_listening

    def _first(self, statement: Executable, params: dict[str, Any], write: bool = False) -> Any:
        """The first row of ``statement`` (``None`` if none), in its own transaction."""
        with self._transaction(write) as conn:
            result = conn.execute(statement, params)
            return result.first() if result.returns_rows else None

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Connection]:
        """One transaction on a pooled connection, committed on success and rolled back on error."""
        with self.engine.begin() as conn:
            yield conn


LISTEN_POLL_S = 0.5
"""How often the listening thread looks up from its connection to see whether to stop."""


def _listen(
    url: str, callback: Callable[[str], None], stop: threading.Event, listening: threading.Event
) -> None:
    import psycopg  # the driver SQLAlchemy uses for postgresql:// URLs

    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {RUN_ENDED_CHANNEL}")
                listening.set()
                while not stop.is_set():
                    for note in conn.notifies(timeout=LISTEN_POLL_S):
                        callback(note.payload)
        except Exception as exc:  # the database went away: try again shortly
            log.warning("lost the run-endings channel (%s); listening again in 1 s", exc)
            stop.wait(1.0)


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
