"""Migrations on both backends: from an empty database, from every older revision, from a
SQLite file written before migrations; and the packaged schema matches the migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from handrail.errors import ConfigurationError
from handrail.storage.autonomy_log import AutonomyLog
from handrail.storage.conversations import ConversationStore
from handrail.storage.engine import StateDatabase, redact
from handrail.storage.journal import EffectJournal
from handrail.storage.migrate import alembic_config, current_revision, head_revision, upgrade
from handrail.storage.schema import metadata

REVISIONS = [
    script.revision
    for script in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
]


def test_an_empty_database_upgrades_to_the_newest_schema(state_url: str) -> None:
    database = StateDatabase(state_url)
    assert current_revision(database.sync_engine) is None
    database.upgrade()
    assert current_revision(database.sync_engine) == head_revision() == REVISIONS[-1]
    tables = set(inspect(database.sync_engine).get_table_names())
    assert set(metadata.tables) <= tables
    with database.sync_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []  # handrail.storage.schema says what the migrations made
    database.upgrade()  # once per process, and harmless again
    StateDatabase(state_url).upgrade()  # another process: already at the newest revision


def _since(start: str, revision: str) -> bool:
    """Whether a database at ``start`` has what ``revision`` made."""
    return REVISIONS.index(start) >= REVISIONS.index(revision)


@pytest.mark.parametrize("start", REVISIONS[:-1])
async def test_each_older_revision_upgrades_in_place(state_url: str, start: str) -> None:
    older = StateDatabase(state_url)
    upgrade(older.sync_engine, start)
    assert current_revision(older.sync_engine) == start
    with older.sync_engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO effect_journal (idempotency_key, tool, task_id, result, applied_at)"
            " VALUES ('t/r/1', 'issue_refund', 't', '{\"n\": 1}', '2025-01-01T00:00:00.000')"
        )
        if _since(start, "0003"):  # the run ledger's rows, kept by later revisions
            connection.exec_driver_sql(
                "INSERT INTO runs VALUES ('t', 'r', 'p', 'm', 'completed', 'g', 'a', 'b', 1.0,"
                " 1, 0, 0, 0, 0, 0, 0, 'c', '{}')"
            )
        if _since(start, "0004"):  # the autonomy audit log's
            connection.exec_driver_sql(
                "INSERT INTO autonomy_changes (at, profile, tool, payload)"
                " VALUES ('2025-01-01T00:00:00.000000Z', 'p', 'issue_refund', '{}')"
            )
    journal = EffectJournal(StateDatabase(state_url))  # a newer worker starts
    try:
        entry = await journal.lookup("t/r/1")
    finally:
        await journal.aclose()
    assert entry is not None
    assert entry.result == {"n": 1}
    assert current_revision(older.sync_engine) == head_revision()
    with older.sync_engine.connect() as connection:
        counted = {
            table: connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one()
            for table in ("runs", "autonomy_changes")
        }
    assert counted == {
        "runs": 1 if _since(start, "0003") else 0,
        "autonomy_changes": 1 if _since(start, "0004") else 0,
    }
    log = AutonomyLog(StateDatabase(state_url))  # and the audit log works at the newest schema
    log.append({"at": "2025-02-01T00:00:00+00:00", "profile": "p", "tool": "t"})
    assert len(log.entries()) == counted["autonomy_changes"] + 1


async def test_a_state_file_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "handrail.db"
    with sqlite3.connect(path) as db:  # what the journal's own code created before
        db.execute(
            "CREATE TABLE effect_journal (idempotency_key TEXT PRIMARY KEY, tool TEXT NOT NULL,"
            " task_id TEXT NOT NULL, result TEXT, applied_at TEXT, compensation TEXT,"
            " compensated_at TEXT)"
        )
        db.execute(
            "INSERT INTO effect_journal VALUES ('k', 'send_email', 't', '{}', 'x', NULL, NULL)"
        )
        db.execute(  # and what the conversation store created
            "CREATE TABLE conversation_messages (conversation_id TEXT NOT NULL,"
            " step INTEGER NOT NULL, slot INTEGER NOT NULL, message TEXT NOT NULL,"
            " PRIMARY KEY (conversation_id, step, slot)) WITHOUT ROWID"
        )
        db.execute("INSERT INTO conversation_messages VALUES ('c', 0, 1, '{\"content\": \"hi\"}')")
    db.close()
    journal = EffectJournal(path)
    conversations = ConversationStore(path)
    try:
        assert await journal.record_applied("k", tool="send_email", task_id="t", result={"a": 1})
        entry = await journal.lookup("k")
        messages = await conversations.messages_before_reply("c", 1)
    finally:
        await journal.aclose()
        await conversations.aclose()
    assert entry is not None
    assert entry.result == {}  # the old rows, kept
    assert messages == [{"content": "hi"}]
    assert current_revision(StateDatabase.of(path).sync_engine) == head_revision()


def test_urls_are_checked_and_never_shown_with_their_password() -> None:
    secret = "postgresql+psycopg://handrail:s3cret-pw@db.internal:5432/handrail"
    database = StateDatabase(secret)
    assert "s3cret-pw" not in database.redacted
    assert "s3cret-pw" not in repr(database)
    assert "s3cret-pw" not in redact(secret)
    with pytest.raises(ConfigurationError, match="sqlite or postgresql") as refused:
        StateDatabase("mysql://root:s3cret-pw@db/handrail")
    assert "s3cret-pw" not in str(refused.value)
