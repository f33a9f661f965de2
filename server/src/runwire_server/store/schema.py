"""Creating the store's schema, and bringing a store made by an older runwire up to date in place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.schema import CreateIndex, CreateTable

from runwire_server.store.tables import api_keys, metadata, runs, workflows

ADDED_COLUMNS: tuple[tuple[Any, str, str], ...] = (
    # (table, column, DDL type): columns added since a store was first made, added in place
    (runs, "claimed_by", "VARCHAR(64)"),  # runs remember the queue message that claimed them
    (runs, "owner", "VARCHAR(300)"),  # front-door runs belong to the principal that started them
    # API keys' lifecycle (SQLite takes PostgreSQL's type name as it is, with DATETIME's affinity)
    (api_keys, "expires_at", "TIMESTAMP WITH TIME ZONE"),
    (api_keys, "revoked_at", "TIMESTAMP WITH TIME ZONE"),
    (api_keys, "last_used_at", "TIMESTAMP WITH TIME ZONE"),
)


def create_schema(engine: Engine) -> None:
    """Create missing tables and indexes, and columns added since (idempotent)."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        inspector = inspect(conn)
        for table, column, ddl in ADDED_COLUMNS:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            if column not in present:
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column} {ddl}"))
    if engine.dialect.name == "sqlite":
        sqlite_ids_never_reused(engine)


def sqlite_ids_never_reused(engine: Engine) -> None:
    """Rebuild an SQLite workflows table made without AUTOINCREMENT (stores made before ids
    were guaranteed unique), keeping every row and id, by SQLite's documented table rebuild."""
    new = f"{workflows.name}_rebuild"
    raw = engine.raw_connection()
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
        dialect = engine.dialect
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
