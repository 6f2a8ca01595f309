"""Schema migrations: Alembic, run in place when a process first opens the state database.

The migration scripts ship inside the package (``handrail/storage/migrations``), and run on a
connection this module hands to Alembic, so no ``alembic.ini`` is needed. Two processes starting
at once on a fresh database take turns: on SQLite the migration's transaction takes the write
lock first (BEGIN IMMEDIATE), on PostgreSQL it takes a transaction-scoped advisory lock (see
``migrations/env.py``); the second finds the schema already at the newest revision.

To write a new revision, add a module beside the others in ``migrations/versions`` whose
``down_revision`` is the newest one, and update ``handrail.storage.schema`` to match.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from handrail.storage.sqlite import BEGIN_OPTION

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration over the packaged scripts (and, to run them, a connection)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision the packaged scripts define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations are packaged"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: empty, or from before migrations)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run every migration the database lacks up to ``revision``, in one transaction."""
    if revision == "head" and current_revision(engine) == head_revision():
        return  # the usual start: nothing to do, and Alembic's script loading skipped
    with engine.connect() as connection:
        connection = connection.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            command.upgrade(alembic_config(connection), revision)
    log.info("state database schema upgraded to %s", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Run migrations down to ``revision`` (for tests of upgrades from older schemas)."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            command.downgrade(alembic_config(connection), revision)
