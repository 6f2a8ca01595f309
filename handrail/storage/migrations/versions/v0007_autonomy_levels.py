"""Autonomy levels in force: one row per (profile, tool) whose level a person changed.

Revision ID: 0007
Revises: 0006

Before this revision ``promote`` / ``demote`` edited the profile file of one host; from here
the level lives in the state database that every worker host reads when it loads a profile
(``handrail.storage.autonomy_levels``), and the file is only the starting point. Each row names
the audit entry (``autonomy_changes.id``) that set it, written in the same transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "autonomy_levels",
        sa.Column("profile", sa.Text, primary_key=True),
        sa.Column("tool", sa.Text, primary_key=True),
        sa.Column("autonomy", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.Text, nullable=False),
        sa.Column("change_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["change_id"], ["autonomy_changes.id"]),
    )


def downgrade() -> None:
    op.drop_table("autonomy_levels")
