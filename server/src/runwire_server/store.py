"""The run store: workflows, runs and API keys in SQLite or PostgreSQL through SQLAlchemy Core.

Calls are synchronous and short (one statement or one transaction each); the API calls them
from its handlers and the workers from their threads. A run's terminal status is written in
the same transaction as its node results, so no reader ever sees one without the other.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool, PoolProxiedConnection
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.sql.expression import Executable

from runwire.auth import Principal
from runwire.errors import AuthRefused
from runwire.jsontext import dumps_stored
from runwire.records import IN_PROGRESS, IN_QUEUE, TERMINAL
from runwire_server.sqlite_fast import SqliteStatement
from runwire_server.tables import api_keys, metadata, runs, workflows

HistoryOrdering = Literal["created_at", "-created_at", "cost", "-cost"]
KEY_PREFIX = "rw_"
NETWORK_POOL_OVERFLOW = 40
ADDED_COLUMNS: tuple[tuple[Any, str, str], ...] = (
    # (table, column, DDL type): columns added since a store was first made, added in place
    (runs, "claimed_by", "VARCHAR(64)"),  # runs remember the queue message that claimed them
    (runs, "owner", "VARCHAR(300)"),  # front-door runs belong to the principal that started them
    # API keys' lifecycle (SQLite takes PostgreSQL's type name as it is, with DATETIME's affinity)
    (api_keys, "expires_at", "TIMESTAMP WITH TIME ZONE"),
    (api_keys, "revoked_at", "TIMESTAMP WITH TIME ZONE"),
    (api_keys, "last_used_at", "TIMESTAMP WITH TIME ZONE"),
)
KEY_USE_WRITE_INTERVAL_S = 60.0
"""A key's ``last_used_at`` is written at most this often per key per process."""
ApiKeyStatus = Literal["active", "expired", "revoked"]


class RunFinished(Exception):
    """A change would turn a finished run into an unfinished one."""


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 in UTC (SQLite hands datetimes back without a zone)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class WorkflowRow:
    """A stored workflow."""

    id: int
    project: int
    title: str
    data: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The API's workflow object."""
        return {
            "id": self.id,
            "project": self.project,
            "title": self.title,
            "data": self.data,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(slots=True)
class WorkflowHead:
    """What identifies a workflow version, without its data."""

    id: int
    project: int
    version: int
    title: str = ""


@dataclass(slots=True)
class RunRow:
    """A stored run; ``nodes`` maps node id to the reference's per-node object."""

    id: str
    workflow_id: int
    project: int
    workflow_version: int
    status: str
    input: Any
    nodes: dict[str, Any]
    total_cost: float
    error: str | None
    created_at: datetime
    updated_at: datetime
    owner: str | None = None
    """A front-door run's principal (:attr:`runwire.auth.Principal.identity`); ``None`` otherwise."""

    def visible_to(self, principal: Principal) -> bool:
        """Whether ``principal`` may see this run: one of its projects', and, for a front-door
        run, one it started (principals with every project see every run)."""
        if not principal.may_access(self.project):
            return False
        return self.owner is None or principal.projects is None or self.owner == principal.identity

    def result_json(self) -> dict[str, Any]:
        """The reference's ``workflow_result`` ``data`` object."""
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "data": self.nodes,
            "metrics": {"total_cost": self.total_cost},
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    def history_json(self) -> dict[str, Any]:
        """One item of a workflow's run history."""
        return {
            **self.result_json(),
            "workflow": self.workflow_id,
            "input_data": self.input,
            "cost": self.total_cost,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def hash_key(key: str) -> str:
    """SHA-256 of an API key (keys are random and long, so no slow hash is needed)."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def key_status(expires_at: datetime | None, revoked_at: datetime | None, now: datetime) -> ApiKeyStatus:
    """``revoked`` (whatever its expiry), ``expired`` (from ``expires_at`` on) or ``active``."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


@dataclass(slots=True)
class ApiKeyRow:
    """A stored API key as ``runwire keys list`` shows it: never its secret nor its hash."""

    id: int
    name: str
    projects: list[int]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime | None = None) -> ApiKeyStatus:
        """``active``, ``expired`` or ``revoked`` at ``now`` (default: the current time)."""
        return key_status(self.expires_at, self.revoked_at, now or utcnow())

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The key as ``runwire keys list --json`` prints it (times in ISO 8601 UTC or ``null``)."""
        times = {
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }
        return {
            "id": self.id,
            "name": self.name,
            "projects": self.projects,
            **{label: iso(value) if value is not None else None for label, value in times.items()},
            "status": self.status(now),
        }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """An SQLAlchemy engine for ``url``; SQLite files get WAL mode and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, json_serializer=dumps_stored
            )
        else:
            engine = create_engine(url, poolclass=NullPool, json_serializer=dumps_stored)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # API calls run in anyio's thread pool (40 threads) besides the worker threads
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=NETWORK_POOL_OVERFLOW,
        pool_pre_ping=True,
        json_serializer=dumps_stored,  # every stored value can be sent back as UTF-8
    )


_RUN_COLUMNS = (
    runs.c.id,
    runs.c.workflow_id,
    runs.c.project,
    runs.c.workflow_version,
    runs.c.status,
    runs.c.input,
    runs.c.nodes,
    runs.c.total_cost,
    runs.c.error,
    runs.c.created_at,
    runs.c.updated_at,
    runs.c.owner,
)
_ORDERINGS = {
    "created_at": (runs.c.created_at.asc(), runs.c.id.asc()),
    "-created_at": (runs.c.created_at.desc(), runs.c.id.desc()),
    "cost": (runs.c.total_cost.asc(), runs.c.created_at.asc()),
    "-cost": (runs.c.total_cost.desc(), runs.c.created_at.desc()),
}


# The hot path's statements, built once (SQLAlchemy then only binds parameters).
_GET_WORKFLOW = select(workflows).where(workflows.c.id == bindparam("wid"))
_GET_WORKFLOW_HEAD = select(
    workflows.c.id, workflows.c.project, workflows.c.version, workflows.c.title
).where(workflows.c.id == bindparam("wid"))
_INSERT_RUN = insert(runs)
_GET_RUN = select(*_RUN_COLUMNS).where(runs.c.id == bindparam("rid"))
_CLAIM_RUN = (
    update(runs)
    .where(
        runs.c.id == bindparam("rid"),
        or_(
            runs.c.status == IN_QUEUE,
            and_(runs.c.status == IN_PROGRESS, runs.c.claimed_by == bindparam("claimant")),
        ),
    )
    .values(
        status=IN_PROGRESS,
        nodes={},
        total_cost=0.0,
        error=None,
        updated_at=bindparam("now"),
        claimed_by=bindparam("claimant"),
    )
    .returning(*_RUN_COLUMNS)
)
_LOOKUP_KEY = select(
    api_keys.c.id, api_keys.c.name, api_keys.c.projects, api_keys.c.expires_at, api_keys.c.revoked_at
).where(api_keys.c.key_hash == bindparam("hash"))
_NOTE_KEY_USE = (
    update(api_keys).where(api_keys.c.id == bindparam("kid")).values(last_used_at=bindparam("now"))
)
_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.projects,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
    api_keys.c.last_used_at,
)
_SAVE_RUN = (
    update(runs)
    .where(runs.c.id == bindparam("rid"))
    .values(
        status=bindparam("status"),
        nodes=bindparam("nodes", type_=runs.c.nodes.type),
        total_cost=bindparam("cost"),
        error=bindparam("error"),
        updated_at=bindparam("now"),
    )
)


class Store:
    """Workflows, runs and API keys. One instance per process; thread-safe."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        self.is_local = self.engine.dialect.name == "sqlite"
        """SQLite: calls take microseconds, so the API makes them on its event loop."""
        self._local = threading.local()
        self._write_lock = threading.Lock()
        """SQLite: held by every write, and by every use of the shared hot-path connection."""
        self._compiled: dict[int, SqliteStatement] = {}
        self._shared: PoolProxiedConnection | None = None
        self._schedule_commit: Callable[[Callable[[], None]], object] | None = None
        self.uncommitted = False
        """SQLite with deferred commits: writes are waiting for :meth:`commit_pending`."""
        self._lost = False
        self._key_use_written: dict[int, float] = {}
        """Key id → ``time.monotonic()`` of this process's last ``last_used_at`` write."""

    def defer_commits(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        """SQLite: let hot-path writes share commits (group commit).

        A write is left uncommitted; ``schedule`` (the event loop's ``call_soon``) is asked to
        run :meth:`commit_pending` soon, and whatever makes a write visible outside the process
        (a reply) must call :meth:`commit_pending` first. A commit costs ten times the statement
        (file locks and WAL writes), and writes made between two replies then share one.
        Only for a store whose hot path is used from one thread (the server's event loop).
        """
        if self.is_local:
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
        """SQLite: this thread's own connection (opened on first use)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._local.conn = self.engine.connect()
        return conn

    def _first(self, statement: Executable, params: dict[str, Any], write: bool = False) -> Any:
        """The first row of one of the hot statements (``None`` if none), in its own transaction.

        On SQLite it runs compiled once (see :mod:`runwire_server.sqlite_fast`) on one raw
        connection shared by all threads, one statement at a time: a connection that sees
        another connection's commit must drop its page cache and re-read the WAL index, which
        costs more than the statement when the API and the workers take turns on each run.
        A network database goes through SQLAlchemy.
        """
        if not self.is_local:
            with self._transaction(write) as conn:
                result = conn.execute(statement, params)
                return result.first() if result.returns_rows else None
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

        SQLite keeps one connection per thread (a pool checkout costs more than the statement)
        and takes writes one at a time through a lock in this process: SQLite admits a single
        writer anyway, and a lock hands over in microseconds where SQLite's busy handler sleeps
        for milliseconds. A network database checks a connection out of the pool instead.
        """
        if not self.is_local:
            with self.engine.begin() as conn:
                yield conn
            return
        self.commit_pending()  # another connection sees, and may write after, every deferred write
        conn = self._thread_connection()
        with self._write_lock if write else nullcontext():
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def create_schema(self) -> None:
        """Create missing tables and indexes, and columns added since (idempotent)."""
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            inspector = inspect(conn)
            for table, column, ddl in ADDED_COLUMNS:
                present = {c["name"] for c in inspector.get_columns(table.name)}
                if column not in present:
                    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column} {ddl}"))
        if self.is_local:
            self._sqlite_ids_never_reused()

    def _sqlite_ids_never_reused(self) -> None:
        """Rebuild an SQLite workflows table made without AUTOINCREMENT (stores made before ids
        were guaranteed unique), keeping every row and id, by SQLite's documented table rebuild."""
        new = f"{workflows.name}_rebuild"
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA foreign_keys=OFF")  # dropping the old table must not cascade to runs
            cursor.execute("BEGIN IMMEDIATE")
            found = cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (workflows.name,)
            ).fetchone()
            if found is None or "AUTOINCREMENT" in found[0].upper():
                cursor.execute("ROLLBACK")
                return
            dialect = self.engine.dialect
            create = str(CreateTable(workflows).compile(dialect=dialect))
            cursor.execute(create.replace(workflows.name, new, 1))
            columns = ", ".join(c.name for c in workflows.columns)
            cursor.execute(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {workflows.name}")
            cursor.execute(f"DROP TABLE {workflows.name}")
            cursor.execute(f"ALTER TABLE {new} RENAME TO {workflows.name}")
            for index in workflows.indexes:
                cursor.execute(str(CreateIndex(index).compile(dialect=dialect)))
            cursor.execute("COMMIT")
        except BaseException:
            if raw.dbapi_connection is not None and raw.dbapi_connection.in_transaction:  # type: ignore[attr-defined]
                raw.dbapi_connection.rollback()
            raise
        finally:
            raw.cursor().execute("PRAGMA foreign_keys=ON")
            raw.close()

    def dispose(self) -> None:
        """Commit deferred writes; close this thread's connection and every pooled one."""
        self.commit_pending()
        self._schedule_commit = None
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        with self._write_lock:
            if self._shared is not None:
                self._shared.close()
                self._shared = None
        self.engine.dispose()

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self._transaction() as conn:
            conn.execute(text("SELECT 1"))

    # -- workflows --------------------------------------------------------------------------

    def create_workflow(self, project: int, title: str, data: dict[str, Any]) -> WorkflowRow:
        """Store a new workflow and return it."""
        now = utcnow()
        with self._transaction(write=True) as conn:
            new_id = conn.execute(
                insert(workflows).values(
                    project=project, title=title, data=data, version=1, created_at=now, updated_at=now
                )
            ).inserted_primary_key[0]
        return WorkflowRow(int(new_id), project, title, data, 1, now, now)

    def get_workflow(self, workflow_id: int) -> WorkflowRow | None:
        """The workflow with ``workflow_id``, or ``None``."""
        with self._transaction() as conn:
            row = conn.execute(_GET_WORKFLOW, {"wid": workflow_id}).first()
        return WorkflowRow(*row) if row is not None else None

    def get_workflow_head(self, workflow_id: int) -> WorkflowHead | None:
        """Id, project and version of a workflow (no data), or ``None``."""
        row = self._first(_GET_WORKFLOW_HEAD, {"wid": workflow_id})
        return WorkflowHead(*row) if row is not None else None

    def list_workflows(
        self,
        projects: frozenset[int] | None,
        project: int | None = None,
        title: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[int, list[WorkflowRow]]:
        """Workflows visible to ``projects`` (``None``: all), filtered; returns (count, page)."""
        where = []
        if projects is not None:
            where.append(workflows.c.project.in_(sorted(projects)))
        if project is not None:
            where.append(workflows.c.project == project)
        if title:
            escaped = title.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(func.lower(workflows.c.title).like(f"%{escaped}%", escape="\\"))
        with self._transaction() as conn:
            count = conn.execute(select(func.count()).select_from(workflows).where(*where)).scalar_one()
            rows = conn.execute(
                select(workflows).where(*where).order_by(workflows.c.id).offset(offset).limit(limit)
            ).all()
        return int(count), [WorkflowRow(*r) for r in rows]

    def update_workflow(
        self, workflow_id: int, title: str | None = None, data: dict[str, Any] | None = None
    ) -> WorkflowRow | None:
        """Change title and/or data; bumps ``version``. ``None`` when there is no such workflow."""
        values: dict[str, Any] = {"updated_at": utcnow(), "version": workflows.c.version + 1}
        if title is not None:
            values["title"] = title
        if data is not None:
            values["data"] = data
        with self._transaction(write=True) as conn:
            done = conn.execute(update(workflows).where(workflows.c.id == workflow_id).values(**values))
            if done.rowcount == 0:
                return None
            row = conn.execute(select(workflows).where(workflows.c.id == workflow_id)).one()
        return WorkflowRow(*row)

    def delete_workflow(self, workflow_id: int) -> bool:
        """Delete a workflow and its runs; ``False`` when there was none."""
        with self._transaction(write=True) as conn:
            conn.execute(delete(runs).where(runs.c.workflow_id == workflow_id))
            return conn.execute(delete(workflows).where(workflows.c.id == workflow_id)).rowcount > 0

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        workflow: WorkflowRow | WorkflowHead,
        input_value: Any,
        status: str = IN_QUEUE,
        nodes: dict[str, Any] | None = None,
        total_cost: float = 0.0,
        error: str | None = None,
        claimed_by: str | None = None,
        owner: str | None = None,
    ) -> RunRow:
        """Store a new run of ``workflow``'s current version: ``in queue`` (before it is enqueued),
        or, for a run executed without the queue, finished (status and node results in one statement).

        ``claimed_by`` stores the run already claimed by the delivery that will execute it;
        ``owner`` makes it visible only to that principal (a front-door run). Returns the run as stored.
        """
        now = utcnow()
        values = {
            "id": run_id,
            "workflow_id": workflow.id,
            "project": workflow.project,
            "workflow_version": workflow.version,
            "status": status,
            "input": input_value,
            "nodes": nodes if nodes is not None else {},
            "total_cost": total_cost,
            "error": error,
            "created_at": now,
            "updated_at": now,
            "claimed_by": claimed_by,
            "owner": owner,
        }
        self._first(_INSERT_RUN, values, write=True)
        return RunRow(
            run_id, workflow.id, workflow.project, workflow.version, status, input_value,
            values["nodes"], total_cost, error, now, now, owner,
        )  # fmt: skip

    def get_run(self, run_id: str) -> RunRow | None:
        """The run with ``run_id``, or ``None``."""
        row = self._first(_GET_RUN, {"rid": run_id})
        return RunRow(*row) if row is not None else None

    def claim_run(self, run_id: str, claimant: str = "") -> RunRow | None:
        """Mark a run ``in progress`` for ``claimant`` (the queue message's id); ``None`` if not claimed.

        Atomic: a run ``in queue`` goes to exactly one claimant. A run ``in progress`` can be
        claimed again only by the message that claimed it (redelivered because its worker died),
        and then starts over from a clean record; any other message (a duplicate) gets ``None``,
        as do terminal and unknown runs.
        """
        params = {"rid": run_id, "now": utcnow(), "claimant": claimant}
        row = self._first(_CLAIM_RUN, params, write=True)
        return RunRow(*row) if row is not None else None

    def save_run(
        self,
        run_id: str,
        status: str,
        nodes: dict[str, Any],
        total_cost: float,
        error: str | None = None,
    ) -> None:
        """Write a run's status, node results, cost and error in one transaction."""
        params = {"rid": run_id, "status": status, "nodes": nodes, "cost": total_cost, "error": error}
        params["now"] = utcnow()
        self._first(_SAVE_RUN, params, write=True)

    def apply_update(self, run_id: str, status: str, nodes: dict[str, Any]) -> bool:
        """Merge a progress payload (status + per-node results) into a run; ``False`` if none.

        :raises RunFinished: the run is terminal: its record is final (a late or replayed progress
            message must neither re-open, and so re-run, a finished run nor rewrite its results).
        """
        with self._transaction(write=True) as conn:
            row = conn.execute(
                select(runs.c.nodes, runs.c.status).where(runs.c.id == run_id).with_for_update()
            ).first()
            if row is None:
                return False
            if row[1] in TERMINAL:  # a late or replayed message must neither re-open nor rewrite it
                raise RunFinished(f"the run is already {row[1]}; a finished run cannot be changed")
            merged = {**(row[0] or {}), **nodes}
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=status, nodes=merged, updated_at=utcnow())
            )
        return True

    def history(
        self,
        workflow_id: int,
        ordering: HistoryOrdering = "-created_at",
        offset: int = 0,
        limit: int = 20,
        owner: str | None = None,
    ) -> tuple[int, list[RunRow]]:
        """One workflow's runs in ``ordering`` (only ``owner``'s, when given); returns (count, page)."""
        where = [runs.c.workflow_id == workflow_id]
        if owner is not None:
            where.append(runs.c.owner == owner)
        with self._transaction() as conn:
            count = conn.execute(select(func.count()).select_from(runs).where(*where)).scalar_one()
            rows = conn.execute(
                select(*_RUN_COLUMNS).where(*where).order_by(*_ORDERINGS[ordering]).offset(offset).limit(limit)
            ).all()
        return int(count), [RunRow(*r) for r in rows]

    def unfinished_runs(self) -> list[str]:
        """Ids of runs left ``in queue`` or ``in progress``, oldest first."""
        with self._transaction() as conn:
            rows = conn.execute(
                select(runs.c.id)
                .where(runs.c.status.in_([IN_QUEUE, IN_PROGRESS]))
                .order_by(runs.c.created_at)
            ).all()
        return [r[0] for r in rows]

    def requeue_runs(self, run_ids: Iterable[str]) -> None:
        """Put runs back ``in queue`` with no node results (before enqueueing them again)."""
        ids = list(run_ids)
        if not ids:
            return
        with self._transaction(write=True) as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(ids), runs.c.status.not_in(sorted(TERMINAL)))
                .values(
                    status=IN_QUEUE,
                    nodes={},
                    total_cost=0.0,
                    error=None,
                    updated_at=utcnow(),
                    claimed_by=None,
                )
            )

    def touch_stale_queued_runs(self, older_than_s: float, limit: int = 1000) -> list[str]:
        """Ids of runs ``in queue`` untouched for ``older_than_s`` seconds, marked touched now.

        One atomic statement: a run claimed meanwhile is not returned, and a run returned is not
        returned again before another ``older_than_s`` (so a long backlog is not enqueued again on
        every sweep). At most ``limit`` (oldest first) per call.
        """
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        with self._transaction(write=True) as conn:
            oldest = (
                select(runs.c.id)
                .where(runs.c.status == IN_QUEUE, runs.c.updated_at < cutoff)
                .order_by(runs.c.updated_at)
                .limit(limit)
            )
            rows = conn.execute(
                update(runs)
                .where(runs.c.id.in_(oldest), runs.c.status == IN_QUEUE)
                .values(updated_at=utcnow())
                .returning(runs.c.id)
            ).all()
        return [r[0] for r in rows]

    # -- API keys ---------------------------------------------------------------------------

    def create_api_key(
        self, projects: Iterable[int], name: str = "", expires_at: datetime | None = None
    ) -> str:
        """Make a random key scoped to ``projects``; store only its hash; return the key.

        :param expires_at: when the key stops working (timezone-aware; ``None``: never).
        """
        return self.issue_api_key(projects, name, expires_at)[0]

    def issue_api_key(
        self, projects: Iterable[int], name: str = "", expires_at: datetime | None = None
    ) -> tuple[str, ApiKeyRow]:
        """As :meth:`create_api_key`, and also return the key's stored record (its id)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        scoped = sorted(set(projects))
        name = name or f"key for project(s) {', '.join(map(str, scoped))}"
        expires_at = expires_at.astimezone(UTC) if expires_at is not None else None
        now = utcnow()
        with self._transaction(write=True) as conn:
            new_id = conn.execute(
                insert(api_keys).values(
                    name=name, key_hash=hash_key(key), projects=scoped, created_at=now, expires_at=expires_at
                )
            ).inserted_primary_key[0]
        return key, ApiKeyRow(int(new_id), name, scoped, now, expires_at, None, None)

    def lookup_api_key(self, key: str) -> Principal | None:
        """The principal of a stored key (``None``: no such key), and note that it was used.

        One indexed statement; whether the key is still valid is decided from it on every call
        (nothing is cached), so a key revoked by another process is refused on its next use.
        ``last_used_at`` is written at most once per :data:`KEY_USE_WRITE_INTERVAL_S` per key
        per process, so it may lag by that much (a write per request would cost the hot path).

        :raises AuthRefused: the key is revoked (``"API key revoked"``) or expired.
        """
        row = self._first(_LOOKUP_KEY, {"hash": hash_key(key)})
        if row is None:
            return None
        key_id, name, projects, expires_at, revoked_at = row
        now = utcnow()
        status = key_status(expires_at, revoked_at, now)
        if status != "active":
            raise AuthRefused(f"API key {status}")
        tick = time.monotonic()
        written = self._key_use_written.get(key_id)
        if written is None or tick - written >= KEY_USE_WRITE_INTERVAL_S:
            self._key_use_written[key_id] = tick
            self._first(_NOTE_KEY_USE, {"kid": key_id, "now": now}, write=True)
        return Principal(
            subject=f"key:{key_id}",
            provider="api-key",
            projects=frozenset(int(p) for p in projects),
            claims={"key_name": name},
        )

    def get_api_key(self, key_id: int) -> ApiKeyRow | None:
        """The stored key with ``key_id``, or ``None``."""
        with self._transaction() as conn:
            row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id)).first()
        return ApiKeyRow(*row) if row is not None else None

    def list_api_keys(self) -> list[ApiKeyRow]:
        """Every stored key, oldest first (revoked and expired ones included)."""
        with self._transaction() as conn:
            rows = conn.execute(select(*_KEY_COLUMNS).order_by(api_keys.c.id)).all()
        return [ApiKeyRow(*r) for r in rows]

    def revoke_api_key(self, key_id: int) -> bool:
        """Mark a key revoked now; ``False`` when there is no such key or it was already revoked."""
        with self._transaction(write=True) as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return done.rowcount > 0


class StoreApiKeys:
    """The store as core's :class:`runwire.auth.ApiKeyStore` (what the ``api-key`` provider asks)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def lookup(self, key: str) -> Principal | None:
        """The principal of ``key``, or ``None`` (a network database is asked off the event loop).

        :raises AuthRefused: the key is revoked or expired.
        """
        if self.store.is_local:
            return self.store.lookup_api_key(key)
        return await anyio.to_thread.run_sync(self.store.lookup_api_key, key)
