"""Handrail's state tables as SQLAlchemy Core ``Table`` definitions: what the stores query.

This is the schema at the newest migration (``handrail/storage/migrations/versions``); each
migration spells out its own columns, so that editing this file never rewrites history. A test
holds the two to agree (``tests/storage/test_storage_migrations.py``).

Types are the portable ones: ``Text``, ``Integer``, ``Float`` (``REAL`` on SQLite, ``DOUBLE
PRECISION`` on PostgreSQL). Times are ISO 8601 text in UTC and JSON is text, as the SQLite files
before this layer held them, so comparing text compares times on both databases.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKeyConstraint, Index, Integer, MetaData, Table, Text

metadata = MetaData()

effect_journal = Table(
    "effect_journal",
    metadata,
    Column("idempotency_key", Text, primary_key=True),
    Column("tool", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("result", Text),
    Column("applied_at", Text),
    Column("compensation", Text),
    Column("compensated_at", Text),
)
"""The effect journal (``handrail.storage.journal``): one row per idempotency key."""

conversation_messages = Table(
    "conversation_messages",
    metadata,
    Column("conversation_id", Text, primary_key=True),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("message", Text, nullable=False),
    sqlite_with_rowid=False,
)
"""Conversations kept outside workflow history (``handrail.storage.conversations``)."""

# --- the run ledger (handrail.storage.ledger; rows from handrail.storage.ledger_rows) ---------

runs = Table(
    "runs",
    metadata,
    Column("task_id", Text, primary_key=True),
    Column("run_id", Text, primary_key=True),
    Column("profile", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("goal", Text, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("steps", Integer, nullable=False),
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("reviews", Integer, nullable=False),
    Column("needed_review", Integer, nullable=False),
    Column("escalated", Integer, nullable=False),
    Column("compensations", Integer, nullable=False),
    Column("recorded_at", Text, nullable=False),
    Column("record_json", Text, nullable=False),
    Index("runs_by_finished", "finished_at"),
    Index("runs_by_profile", "profile", "finished_at"),
)
"""One row per finished run, its redacted record as JSON beside the columns stats read."""

run_steps = Table(
    "run_steps",
    metadata,
    Column("task_id", Text, primary_key=True),
    Column("run_id", Text, primary_key=True),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("profile", Text, nullable=False),
    Column("finished_at", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("confidence", Float),
    Column("tokens_in", Integer, nullable=False),
    Column("tokens_out", Integer, nullable=False),
    Column("decide_ms", Float, nullable=False),
    Column("tool_ms", Float),
    Column("ok", Integer),
    Column("gate", Text),
    Column("verdict", Text),
    Column("reviewer", Text),
    Column("review_tier", Text),
    Column("review_wait_s", Float),
    Column("reviewed_at", Text),
    Column("tier_escalations", Integer, nullable=False),
    Column("deferred", Integer, nullable=False),
    Column("compensated", Integer, nullable=False),
    ForeignKeyConstraint(["task_id", "run_id"], ["runs.task_id", "runs.run_id"]),
    Index("steps_by_action", "action", "outcome"),
    Index("steps_by_finished", "finished_at"),
    Index("steps_by_review", "profile", "action", "reviewed_at"),
)
"""One row per step; ``profile`` and ``finished_at`` copied from the run so stats need no join."""

autonomy_changes = Table(
    "autonomy_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("profile", Text, nullable=False),
    Column("tool", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Index("autonomy_changes_by_tool", "profile", "tool", "at"),
    Index("autonomy_changes_by_at", "at"),
)
"""The autonomy audit log (``handrail.storage.autonomy_log``): one row per applied change, in
the order applied; the whole entry as JSON, beside the columns it is looked up by."""

autonomy_levels = Table(
    "autonomy_levels",
    metadata,
    Column("profile", Text, primary_key=True),
    Column("tool", Text, primary_key=True),
    Column("autonomy", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("changed_at", Text, nullable=False),
    Column("change_id", Integer, nullable=False),
    ForeignKeyConstraint(["change_id"], ["autonomy_changes.id"]),
)
"""Autonomy levels in force (``handrail.storage.autonomy_levels``), overlaid on the profile
files when a worker loads a profile: one row per (profile, tool) a person promoted or demoted,
naming the audit entry that set it (written in one transaction with it); ``version`` counts
the changes."""

limit_reservations = Table(
    "limit_reservations",
    metadata,
    Column("idempotency_key", Text, primary_key=True),
    Column("tool", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("amount", Text, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("reserved_at", Text, nullable=False),
    Column("released_at", Text),
    Index("limit_reservations_by_scope", "tool", "scope", "reserved_at"),
)
"""Reservations against shared limits (``handrail.storage.limits``): one per action, kept when
released; amounts are decimal text, summed exactly in Python."""

used_links = Table(
    "used_links",
    metadata,
    Column("link_id", Text, primary_key=True),
    Column("task_id", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("reviewer", Text, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
    Column("used_at", Text, nullable=False),
    Index("used_links_by_expiry", "expires_at"),
)
"""Signed review links already used (``handrail.review.used_links``): the first use inserts
the link's id, a second finds it taken. Rows past ``expires_at`` can be deleted: an expired
link is refused before this table is read."""

declared_tools = Table(
    "declared_tools",
    metadata,
    Column("name", Text, primary_key=True),
    Column("read_only", Integer, nullable=False),
    Column("compensation", Text),
    Column("irreversible", Integer, nullable=False),
    Column("amount_field", Text),
    Column("parameters", Text, nullable=False),
    Column("declared_at", Text, nullable=False),
)
"""The tools workers registered (``handrail.storage.declared_tools``): one row per name, the
last worker to start with it having written it; ``parameters`` is the argument JSON schema."""
