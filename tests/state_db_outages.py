"""The state database away, as the fault tests make it: PostgreSQL taken down and brought back,
or a SQLite file whose write lock another process holds; and what the log may not show."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from temporalio.exceptions import ApplicationError

from handrail.storage.outage import STATE_DATABASE_UNAVAILABLE
from handrail.testing.postgres import PostgresCluster

PASSWORD = "state-db-" + "pw-5f4e3d"  # trust auth ignores it; the log must never show it
OUTAGE_LINE = "Handrail's state database"


class Outage(Protocol):
    url: str

    def begin(self) -> None: ...
    def end(self) -> None: ...


class PostgresOutage:
    """The state on its own throwaway cluster, stopped (fast: connections cut) and started."""

    def __init__(self, cluster: PostgresCluster) -> None:
        self.cluster = cluster
        self.url = make_url(cluster.url).set(password=PASSWORD).render_as_string(False)
        self.down = False

    def begin(self) -> None:
        self.cluster.take_down()
        self.down = True

    def end(self) -> None:
        if self.down:
            self.cluster.bring_back()
            self.down = False


# Another process holding SQLite's write lock (BEGIN EXCLUSIVE) until its stdin closes.
_HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
db.rollback()
"""


class SqliteLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite+aiosqlite:///{path}"
        self.holder: subprocess.Popen[str] | None = None

    def begin(self) -> None:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.holder = holder
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"

    def end(self) -> None:
        holder, self.holder = self.holder, None
        if holder is None:
            return
        try:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(timeout=10)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
            if holder.stdout is not None:
                holder.stdout.close()


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as db:
            db.execute(text("DROP SCHEMA public CASCADE"))
            db.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def outage_traceback(record: logging.LogRecord) -> bool:
    """Whether ``record`` carries a traceback of the database's absence. (Others may come:
    sdk-core cancels a local activity's attempt that spans a workflow task heartbeat, with a
    traceback of the cancellation, then runs it again.)"""
    if record.exc_info is None or record.levelno < logging.WARNING:
        return False
    error = record.exc_info[1]
    while error is not None:
        if isinstance(error, DBAPIError):
            return True
        if isinstance(error, ApplicationError) and error.type == STATE_DATABASE_UNAVAILABLE:
            return True
        error = error.__cause__ or error.__context__
    return False


def rows(url: str, query: str, ids: list[str]) -> list[tuple[Any, ...]]:
    """The rows of ``query`` (``{ids}`` stands for the ids' placeholders) on ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            marks = ", ".join(f":id{n}" for n in range(len(ids)))
            found = db.execute(
                text(query.format(ids=marks)), {f"id{n}": v for n, v in enumerate(ids)}
            )
            return [tuple(row) for row in found]
    finally:
        engine.dispose()


def sync_url(url: str) -> str:
    """``url`` with its backend's default (synchronous) driver."""
    return make_url(url).set(drivername=make_url(url).get_backend_name()).render_as_string(False)
