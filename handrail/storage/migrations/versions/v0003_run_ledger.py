"""The run ledger: runs and their steps.

Revision ID: 0003
Revises: 0002

Before this revision the ledger was its own SQLite file (``<data_dir>/ledger.db``); its runs are
not copied here (see docs/architecture.md, "State store").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("task_id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("goal", sa.Text, nullable=False),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
        sa.Column("tokens_in", sa.Integer, nullable=False),
        sa.Column("tokens_out", sa.Integer, nullable=False),
        sa.Column("reviews", sa.Integer, nullable=False),
        sa.Column("needed_review", sa.Integer, nullable=False),
        sa.Column("escalated", sa.Integer, nullable=False),
        sa.Column("compensations", sa.Integer, nullable=False),
        sa.Column("recorded_at", sa.Text, nullable=False),
        sa.Column("record_json", sa.Text, nullable=False),
    )
    op.create_index("runs_by_finished", "runs", ["finished_at"])
    op.create_index("runs_by_profile", "runs", ["profile", "finished_at"])
    op.create_table(
        "run_steps",
        sa.Column("task_id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("step", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float),
        sa.Column("tokens_in", sa.Integer, nullable=False),
        sa.Column("tokens_out", sa.Integer, nullable=False),
        sa.Column("decide_ms", sa.Float, nullable=False),
        sa.Column("tool_ms", sa.Float),
        sa.Column("ok", sa.Integer),
        sa.Column("gate", sa.Text),
        sa.Column("verdict", sa.Text),
        sa.Column("reviewer", sa.Text),
        sa.Column("review_tier", sa.Text),
        sa.Column("review_wait_s", sa.Float),
        sa.Column("reviewed_at", sa.Text),
        sa.Column("tier_escalations", sa.Integer, nullable=False),
        sa.Column("deferred", sa.Integer, nullable=False),
        sa.Column("compensated", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["task_id", "run_id"], ["runs.task_id", "runs.run_id"]),
    )
    op.create_index("steps_by_action", "run_steps", ["action", "outcome"])
    op.create_index("steps_by_finished", "run_steps", ["finished_at"])
    op.create_index("steps_by_review", "run_steps", ["profile", "action", "reviewed_at"])


def downgrade() -> None:
    op.drop_table("run_steps")
    op.drop_table("runs")
