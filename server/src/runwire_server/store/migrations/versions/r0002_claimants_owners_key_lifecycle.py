"""Columns added in place before the schema had revisions, and ids never reused on SQLite.

Runs remember the queue message that claimed them (``claimed_by``) and a front-door run's
principal (``owner``); API keys get their lifecycle (``expires_at``, ``revoked_at``,
``last_used_at``); runs made by the first runwire get ``workflow_version``. An SQLite workflows
table made without AUTOINCREMENT (a deleted highest id would be reused) is rebuilt keeping
every row and id, and missing indexes are made. Each step checks first: a store made by an
older runwire may have any of them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateIndex, CreateTable

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def added_columns() -> list[tuple[str, sa.Column[Any]]]:
    """The columns added, by table (new objects each call: a column belongs to one table)."""
    return [
        # the first runwire's runs: every existing run was of its workflow's first version
        ("runwire_runs", sa.Column("workflow_version", sa.Integer, nullable=False, server_default="1")),
        ("runwire_runs", sa.Column("claimed_by", sa.String(64), nullable=True)),
        ("runwire_runs", sa.Column("owner", sa.String(300), nullable=True)),
        ("runwire_api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True)),
        ("runwire_api_keys", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True)),
        ("runwire_api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True)),
    ]


INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    ("ix_runwire_workflows_project", "runwire_workflows", ["project"]),
    ("ix_runwire_runs_workflow_created", "runwire_runs", ["workflow_id", "created_at"]),
    ("ix_runwire_runs_workflow_cost", "runwire_runs", ["workflow_id", "total_cost"]),
    ("ix_runwire_runs_status", "runwire_runs", ["status"]),
)
"""The baseline's indexes, made where a store lacks them."""

WORKFLOWS = sa.Table(
    "runwire_workflows",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.Integer, nullable=False, index=True),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)
"""The workflows table with AUTOINCREMENT, as this revision rebuilds it on SQLite."""


def upgrade() -> None:
    """Add the missing columns; rebuild an SQLite workflows table without AUTOINCREMENT; make
    the missing indexes."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table, column in added_columns():
        if column.name not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(table, column)
    if bind.dialect.name == "sqlite":
        _sqlite_ids_never_reused(bind)
    inspector = sa.inspect(bind)  # afresh: the rebuild changed the workflows table
    for name, table, columns in INDEXES:
        if name not in {i["name"] for i in inspector.get_indexes(table)}:
            op.create_index(name, table, columns)


def _sqlite_ids_never_reused(bind: sa.Connection) -> None:
    """SQLite's documented table rebuild, keeping every row and id (the caller turned foreign
    keys off: dropping the old table must not cascade to its runs)."""
    found = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (WORKFLOWS.name,)
    ).scalar()
    if found is None or "AUTOINCREMENT" in found.upper():
        return
    new = f"{WORKFLOWS.name}_rebuild"
    create = str(CreateTable(WORKFLOWS).compile(dialect=bind.dialect))
    bind.exec_driver_sql(create.replace(WORKFLOWS.name, new, 1))
    columns = ", ".join(c.name for c in WORKFLOWS.columns)
    bind.exec_driver_sql(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {WORKFLOWS.name}")
    bind.exec_driver_sql(f"DROP TABLE {WORKFLOWS.name}")
    bind.exec_driver_sql(f"ALTER TABLE {new} RENAME TO {WORKFLOWS.name}")
    for index in WORKFLOWS.indexes:
        bind.exec_driver_sql(str(CreateIndex(index).compile(dialect=bind.dialect)))


def downgrade() -> None:
    """Drop the added columns (the rebuilt SQLite table keeps its AUTOINCREMENT)."""
    for table, column in reversed(added_columns()[1:]):
        op.drop_column(table, column.name)
