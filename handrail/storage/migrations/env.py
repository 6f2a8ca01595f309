"""Alembic's environment: runs on the connection ``handrail.storage.migrate`` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from handrail.storage.schema import metadata

# An arbitrary constant: the advisory lock every Handrail process takes to migrate PostgreSQL.
_MIGRATION_LOCK = 0x48616E64  # "Hand"

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "Handrail's migrations run through handrail.storage.migrate (they need a connection)"
    )
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Held to the end of the transaction: a second process waits, then finds the schema
        # at the newest revision (Alembic reads the current revision after this point).
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    context.run_migrations()
