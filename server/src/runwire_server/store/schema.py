"""The store's schema, versioned with Alembic: any store (empty, made by an older runwire, or
current) is brought to the newest revision, by one process at a time.

The revisions are package data (:mod:`runwire_server.store.migrations`), configured here
without an ``alembic.ini``, so an installed runwire migrates its store by itself. Every process
that opens the store (``serve``, ``worker``, ``runwire keys``, ``runwire db upgrade``) calls
:func:`upgrade_schema`: a store already at the newest revision costs one query; otherwise the
process takes the migration lock (a PostgreSQL advisory lock, or a file lock beside an SQLite
database), looks again, and upgrades what another process has not upgraded meanwhile.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from runwire.errors import ConfigInvalid

if TYPE_CHECKING:  # Alembic is imported when a store is opened (it takes a quarter of a second)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
"""The Alembic script directory: ``env.py``, ``script.py.mako`` and ``versions/``."""

VERSION_TABLE = "runwire_alembic_version"
"""The table recording the store's revision (named apart from an application's own Alembic)."""

ADVISORY_LOCK_KEY = 0x72756E77697265
"""The PostgreSQL advisory lock held while migrating (``runwire`` in ASCII); per database."""


class SchemaTooNew(ConfigInvalid):
    """The store is at a revision this runwire does not know: a newer runwire migrated it."""


@dataclass(frozen=True, slots=True)
class SchemaUpgrade:
    """What :func:`upgrade_schema` did: the revision before (``None``: no revision recorded, an
    empty store or one made by a runwire without migrations) and after (the newest)."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        """Whether any revision was applied."""
        return self.before != self.after


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the store's revisions, migrating on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The store's revisions (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision: the schema of :mod:`runwire_server.store.tables`."""
    head = script_directory().get_current_head()
    assert head is not None, "the store has no revisions"
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision ``conn``'s database is at (``None`` if none is recorded)."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _known(revision: str | None) -> None:
    """:raises SchemaTooNew: ``revision`` is not one of this runwire's revisions."""
    if revision is None:
        return
    script = script_directory()
    if revision not in {r.revision for r in script.walk_revisions()}:
        raise SchemaTooNew(
            f"the store's schema is at revision {revision!r}, which this runwire does not know "
            f"(its newest is {script.get_current_head()!r}): a newer runwire has upgraded it. "
            "Run that runwire version (or newer) against this store."
        )


_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(.*?)\s*$", re.M)
_QUOTED = re.compile(r"""\A(?:"([^"]*)"|'([^']*)'|None)\Z""")


@functools.cache
def _head_from_files() -> str | None:
    """The newest revision, read from the ``revision`` and ``down_revision`` lines of the
    revision files without importing Alembic (which costs a quarter second and several MiB at
    every start); ``None`` when a file does not say them that plainly (a merge, say): then
    Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("r*.py"):
        found: dict[str, str | None] = {}
        for key, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            match = _QUOTED.match(value)
            if match is None:
                return None
            found[key] = match.group(1) or match.group(2)
        revision = found.get("revision")
        if revision is None or "down_revision" not in found:
            return None
        revisions.add(revision)
        if found["down_revision"] is not None:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the store records :func:`_head_from_files` as its revision (read with a plain
    query: the common case of a start, where Alembic has nothing to do and is not imported)."""
    head = _head_from_files()
    if head is None:
        return False
    with engine.connect() as conn:
        try:
            recorded = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        except SQLAlchemyError:  # no version table yet (an empty store): Alembic makes it
            return False
        finally:
            conn.rollback()
    return recorded == [head]


def upgrade_schema(engine: Engine) -> SchemaUpgrade:
    """Bring the store to the newest revision (an empty database gets every table), one process
    at a time; other processes starting at once wait for it and find the work done.

    :raises SchemaTooNew: the store is at a revision newer than this runwire knows.
    """
    if _at_head(engine):
        head = _head_from_files()
        assert head is not None
        return SchemaUpgrade(head, head)
    from alembic import command

    head = head_revision()
    with engine.connect() as conn:
        before = current_revision(conn)
        conn.rollback()
        _known(before)
        if before == head:
            return SchemaUpgrade(before, head)
        with _migration_lock(conn):
            _begin(conn)
            try:
                before = current_revision(conn)  # another process may have upgraded it meanwhile
                _known(before)
                if before != head:
                    command.upgrade(alembic_config(conn), "head")
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
    return SchemaUpgrade(before, head)


def _begin(conn: Connection) -> None:
    """Begin the migration's transaction: every revision and the recorded revision commit
    together, or not at all. PostgreSQL's DDL is transactional as it is; SQLite's driver would
    run DDL outside any transaction, so it is begun explicitly (and takes the write lock)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.begin()


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Hold the store's migration lock for the block (blocking until it is free)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        conn.commit()  # the lock is the session's: it outlives this transaction
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()
    elif conn.dialect.name == "sqlite":
        database = conn.engine.url.database
        # rebuilding a table drops the old one: foreign keys must not cascade (set outside a transaction)
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            if database and database != ":memory:":
                with _file_lock(Path(f"{database}.migrate.lock")):
                    yield
            else:
                yield
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()
    else:  # another database SQLAlchemy speaks: no lock known; start one process first
        yield


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (made 0600 if missing) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield  # the lock goes with the descriptor
    finally:
        os.close(fd)
