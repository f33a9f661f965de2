"""Run control: a run's event log, who cancelled it, and indexes for listing and retention.

``events`` is the run's story as the live event stream tells it (node started, finished…),
written with its progress; ``cancelled_by`` names the principal that cancelled it. Runs are
listed across front doors newest first (``created_at``) and deleted after
``RUNWIRE_RUN_RETENTION`` by age (``updated_at``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_runwire_runs_created", "runwire_runs", ["created_at"]),
    ("ix_runwire_runs_updated", "runwire_runs", ["updated_at"]),
]


def added_columns() -> list[sa.Column[Any]]:
    """The columns added to ``runwire_runs`` (new objects each call)."""
    return [
        sa.Column("events", sa.JSON, nullable=True),
        sa.Column("cancelled_by", sa.String(300), nullable=True),
    ]


def upgrade() -> None:
    """Add the columns and indexes that are missing."""
    inspector = sa.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns("runwire_runs")}
    for column in added_columns():
        if column.name not in present:
            op.add_column("runwire_runs", column)
    indexes = {i["name"] for i in inspector.get_indexes("runwire_runs")}
    for name, table, columns in INDEXES:
        if name not in indexes:
            op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop the indexes and columns."""
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    for column in reversed(added_columns()):
        op.drop_column("runwire_runs", column.name)
