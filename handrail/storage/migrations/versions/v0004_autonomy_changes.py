"""The autonomy audit log: who promoted or demoted which tool, why, with what evidence.

Revision ID: 0004
Revises: 0003

Before this revision the audit log was a file, ``<data_dir>/autonomy_log.jsonl``; the store
(``handrail.storage.autonomy_log``) imports such a file once, on first use, and renames it
``autonomy_log.jsonl.imported``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "autonomy_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("tool", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("autonomy_changes_by_tool", "autonomy_changes", ["profile", "tool", "at"])
    op.create_index("autonomy_changes_by_at", "autonomy_changes", ["at"])


def downgrade() -> None:
    op.drop_table("autonomy_changes")
