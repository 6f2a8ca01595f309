"""Handrail's state tables as SQLAlchemy Core ``Table`` definitions: what the stores query.

This is the schema at the newest migration (``handrail/storage/migrations/versions``); each
migration spells out its own columns, so that editing this file never rewrites history. A test
holds the two to agree (``tests/test_storage_migrations.py``).

Types are the portable ones: ``Text``, ``Integer``, ``Float`` (``REAL`` on SQLite, ``DOUBLE
PRECISION`` on PostgreSQL). Times are ISO 8601 text in UTC and JSON is text, as the SQLite files
before this layer held them, so comparing text compares times on both databases.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table, Text

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
"""Conversations kept outside workflow history (``handrail.activities.conversation_store``)."""
