"""Conversations kept outside workflow history.

Revision ID: 0002
Revises: 0001

A ``handrail.db`` written before migrations already has this table (the same columns): it is
adopted as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("conversation_messages"):
        return  # from before migrations
    op.create_table(
        "conversation_messages",
        sa.Column("conversation_id", sa.Text, primary_key=True),
        sa.Column("step", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("message", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("conversation_messages")
