"""Declared tools: what each worker says its registered tools are, for hosts that run none.

Revision ID: 0008
Revises: 0007

A worker writes one row per tool it registers when it starts (``handrail.storage.
declared_tools``): whether the tool only reads, what compensates it, whether it is
irreversible, its money argument and its argument schema. ``stats``, ``promote``, ``demote``
and the HTTP gateway read them instead of any one agent's tool list.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "declared_tools",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("read_only", sa.Integer, nullable=False),
        sa.Column("compensation", sa.Text),
        sa.Column("irreversible", sa.Integer, nullable=False),
        sa.Column("amount_field", sa.Text),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.Column("declared_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("declared_tools")
