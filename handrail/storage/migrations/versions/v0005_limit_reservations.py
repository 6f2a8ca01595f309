"""Shared limits: reservations across tasks, per tool and scope.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "limit_reservations",
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("amount", sa.Text, nullable=False),
        sa.Column("task_id", sa.Text, nullable=False),
        sa.Column("reserved_at", sa.Text, nullable=False),
        sa.Column("released_at", sa.Text),
    )
    op.create_index(
        "limit_reservations_by_scope", "limit_reservations", ["tool", "scope", "reserved_at"]
    )


def downgrade() -> None:
    op.drop_table("limit_reservations")
