"""The store's SQLAlchemy tables: workflows, runs, API keys, live processes and idempotency keys,
with their indexes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

from runwire.jsontext import storable_text


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store in UTC."""
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read as an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StorableText(TypeDecorator[str]):
    """Text that any string can be written to: a NUL character (PostgreSQL refuses it) or a lone
    surrogate (not UTF-8) is stored as U+FFFD, the same on every store
    (:func:`runwire.jsontext.storable_text`). For text that runs produce (a run's ``error``
    quotes what a program wrote to stderr), never for keys that are looked up."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        """Store NUL and lone surrogates as U+FFFD."""
        return value if value is None else storable_text(value)


PRINCIPAL_MAX = 300
"""The longest principal identity (``provider:subject``) the store keeps: a front-door run's
``owner``, ``cancelled_by``, an idempotency key's ``principal``."""

metadata = MetaData()

workflows = Table(
    "runwire_workflows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", Integer, nullable=False, index=True),
    Column("title", String(255), nullable=False),
    Column("data", JSON, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # ids are never reused, also on SQLite (where a plain integer key reuses a deleted highest id)
    sqlite_autoincrement=True,
)

runs = Table(
    "runwire_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workflow_id", Integer, ForeignKey("runwire_workflows.id", ondelete="CASCADE"), nullable=False),
    Column("project", Integer, nullable=False),
    Column("workflow_version", Integer, nullable=False, default=1),
    Column("status", String(16), nullable=False),
    Column("input", JSON, nullable=True),
    Column("nodes", JSON, nullable=False),
    Column("total_cost", Float, nullable=False, default=0.0),
    Column("error", StorableText(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # who holds the run: ``<process id>:<delivery>`` (the process's row in runwire_processes is
    # its lease); only the same delivery may claim it again while the lease holds
    Column("claimed_by", String(64), nullable=True),
    # a front-door run's principal (provider:subject): only it (and all-project principals) sees it
    Column("owner", String(PRINCIPAL_MAX), nullable=True),
    # the run's event log, as the live event stream tells it (runwire_server.events)
    Column("events", JSON, nullable=True),
    # the principal that cancelled the run (a running run: asked; its executor ends it)
    Column("cancelled_by", String(PRINCIPAL_MAX), nullable=True),
    # history: one workflow's runs by time or by cost, without sorting the table
    Index("ix_runwire_runs_workflow_created", "workflow_id", "created_at"),
    Index("ix_runwire_runs_workflow_cost", "workflow_id", "total_cost"),
    # start-up recovery finds unfinished runs
    Index("ix_runwire_runs_status", "status"),
    # every run a principal may see, newest first; retention deletes by age
    Index("ix_runwire_runs_created", "created_at"),
    Index("ix_runwire_runs_updated", "updated_at"),
)

KEY_NAME_MAX = 255
"""The longest API key name (its column's length)."""

api_keys = Table(
    "runwire_api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(KEY_NAME_MAX), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("projects", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # lifecycle: a key past ``expires_at`` or with ``revoked_at`` set is refused (401)
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    # written at most once a minute per key per process (see Store.lookup_api_key)
    Column("last_used_at", UTCDateTime(), nullable=True),
)

PROCESS_ID_LENGTH = 12
"""Length of a process id (hex): the prefix of every ``claimed_by`` the process writes."""

processes = Table(
    "runwire_processes",
    metadata,
    # a random id per process start; ``runs.claimed_by`` starts with it
    Column("id", String(PROCESS_ID_LENGTH), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    # the lease: renewed every RUNWIRE_HEARTBEAT_S; older than RUNWIRE_PROCESS_TIMEOUT_S = dead
    Column("last_seen", UTCDateTime(), nullable=False),
)

idempotency = Table(
    "runwire_idempotency",
    metadata,
    # a submit's Idempotency-Key, per principal (provider:subject): its first answer is kept 24 h
    Column("principal", String(PRINCIPAL_MAX), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    # sha256 of method, path, query, content type and body: the same key for another request is a 422
    Column("request_hash", String(64), nullable=False),
    # the first submit's answer; NULL while it is in progress
    Column("status_code", Integer, nullable=True),
    Column("content_type", String(255), nullable=True),
    Column("reply", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # the process answering the first submit (runwire_processes.id): a claim still unfinished when
    # that process's lease has lapsed is abandoned (the process died), and a retry takes it over
    Column("claimed_by", String(PROCESS_ID_LENGTH), nullable=False),
    # the purge deletes by age
    Index("ix_runwire_idempotency_created", "created_at"),
)
