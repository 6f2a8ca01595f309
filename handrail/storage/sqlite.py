"""How Handrail talks to SQLite: WAL, a busy timeout, and transactions that say how they begin.

Kept apart from ``engine`` so that the migrations (``migrate``), which ``engine`` runs, can name
a transaction's kind without importing ``engine`` back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

BUSY_TIMEOUT_MS: Final = 30_000
"""How long a SQLite writer waits for another process's lock before failing."""

BEGIN_OPTION: Final = "handrail_begin"
"""Execution option naming how a SQLite transaction begins (``IMMEDIATE`` for writers)."""

BUSY_OPTION: Final = "handrail_busy_timeout_ms"
"""Execution option: how long this SQLite transaction waits for another process's lock, when it
is not the engine's own (the ledger's write in an activity waits less than the CLI's)."""


def _sqlite_connect(busy_timeout_ms: int) -> Callable[[DBAPIConnection, ConnectionPoolEntry], None]:
    def connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # The driver's own transaction handling is switched off (it would not begin before
        # DDL, nor take the write lock early): the "begin" listener below says BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers (another worker, the stats CLI) do not block the writer, nor it them.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return connect


def _sqlite_begin(connection: Any) -> None:
    # A writer's transaction takes the write lock before it reads (BEGIN IMMEDIATE), so two
    # processes' read-then-write transactions cannot both act on what they read.
    options = connection.get_execution_options()
    if BUSY_OPTION in options:  # before BEGIN: an IMMEDIATE one waits for the lock
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(options[BUSY_OPTION])}")
    connection.exec_driver_sql(f"BEGIN {options.get(BEGIN_OPTION, 'DEFERRED')}")


def sqlite_events(engine: Engine, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    event.listen(engine, "connect", _sqlite_connect(busy_timeout_ms))
    event.listen(engine, "begin", _sqlite_begin)
