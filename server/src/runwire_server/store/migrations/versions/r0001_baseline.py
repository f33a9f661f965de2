"""The baseline: the tables as runwire made them before its schema had revisions.

An empty database gets them; a store made by an older runwire (tables, no recorded revision)
keeps the ones it has, and gets what it lacks from the next revision. The tables are written
out here as they were, not imported from ``tables.py``, so that changing those later does not
change what this revision made.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

baseline = sa.MetaData()

sa.Table(
    "runwire_workflows",
    baseline,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.Integer, nullable=False, index=True),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

sa.Table(
    "runwire_runs",
    baseline,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "workflow_id", sa.Integer, sa.ForeignKey("runwire_workflows.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("project", sa.Integer, nullable=False),
    sa.Column("workflow_version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("input", sa.JSON, nullable=True),
    sa.Column("nodes", sa.JSON, nullable=False),
    sa.Column("total_cost", sa.Float, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_runwire_runs_workflow_created", "workflow_id", "created_at"),
    sa.Index("ix_runwire_runs_workflow_cost", "workflow_id", "total_cost"),
    sa.Index("ix_runwire_runs_status", "status"),
)

sa.Table(
    "runwire_api_keys",
    baseline,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("projects", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def upgrade() -> None:
    """Create the tables (and their indexes) that are missing."""
    baseline.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    """Drop the tables, and everything in them."""
    baseline.drop_all(op.get_bind(), checkfirst=True)
