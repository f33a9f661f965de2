"""Live processes: every ``runwire serve`` and ``runwire worker`` heartbeats a row (its lease).

A run's ``claimed_by`` starts with the id of the process holding it; a run whose process has
not heartbeated within ``RUNWIRE_PROCESS_TIMEOUT_S`` is released and enqueued again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Make the processes table (unless there is one: a store whose revision record was lost)."""
    if sa.inspect(op.get_bind()).has_table("runwire_processes"):
        return
    op.create_table(
        "runwire_processes",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the processes table."""
    op.drop_table("runwire_processes")
