"""Idempotent submits: the first answer to each (principal, Idempotency-Key), kept 24 hours.

A submit (workflow run, ``/task``, ``/script``, ``/api/execute/``) sent with an
``Idempotency-Key`` header claims a row here before it starts anything; a retry with the same
key reads the stored answer instead of starting a second run, on any server of the store.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Make the idempotency table and its index (unless there is one: a store whose revision
    record was lost)."""
    if sa.inspect(op.get_bind()).has_table("runwire_idempotency"):
        return
    op.create_table(
        "runwire_idempotency",
        sa.Column("principal", sa.String(300), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("reply", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(12), nullable=False),
    )
    op.create_index("ix_runwire_idempotency_created", "runwire_idempotency", ["created_at"])


def downgrade() -> None:
    """Drop the idempotency table."""
    op.drop_index("ix_runwire_idempotency_created", table_name="runwire_idempotency")
    op.drop_table("runwire_idempotency")
