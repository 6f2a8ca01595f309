"""The effect journal.

Revision ID: 0001
Revises: (none)

A ``handrail.db`` written before migrations already has this table (the same columns): it is
adopted as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("effect_journal"):
        return  # from before migrations
    op.create_table(
        "effect_journal",
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("task_id", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("applied_at", sa.Text),
        sa.Column("compensation", sa.Text),
        sa.Column("compensated_at", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("effect_journal")
