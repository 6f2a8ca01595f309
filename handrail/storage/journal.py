"""The effect journal: Handrail's record of which actions took effect and which were undone,
keyed by idempotency key, in Handrail's state store (not the user's business database).

It is what makes exactly-once a framework service rather than each tool's own bookkeeping:

- a retried or re-executed action whose result is recorded returns that result and does not run;
- a compensation learns whether its action took effect (``recorded``), and leaves a tombstone, so
  an attempt of the action still in flight cannot take effect after its undo;
- the journal is append-only audit: rows are never deleted.

What it guarantees depends on the tool (docs/extending.md, "Exactly once"): the journal is
written after the tool's effect, in its own transaction. A tool that crashes between its effect
and the journal write is called again with the same idempotency key, so a tool must make its
effect idempotent by that key: store it with the effect under a unique constraint (the store
example), or pass it to an outside API that deduplicates by it (Stripe-style).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS effect_journal (
    idempotency_key TEXT PRIMARY KEY,
    tool            TEXT NOT NULL,
    task_id         TEXT NOT NULL,
    result          TEXT,
    applied_at      TEXT,
    compensation    TEXT,
    compensated_at  TEXT
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JournalEntry:
    """One action's row: whether it took effect, with what result, and whether it was undone."""

    idempotency_key: str
    tool: str
    task_id: str
    result: dict[str, Any] | None
    applied_at: str | None
    compensation: str | None
    compensated_at: str | None

    @property
    def applied(self) -> bool:
        return self.applied_at is not None

    @property
    def compensated(self) -> bool:
        return self.compensated_at is not None


class EffectJournal:
    """The journal in one SQLite file (WAL, so other processes read beside the writer).

    One connection, used only by one dedicated thread: it sits on every action's path, and
    opening a connection per call cost more than the queries themselves.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="effect-journal")
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:  # on the journal's own thread only
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
            self._connection = connection
        return self._connection

    def _transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        # BEGIN IMMEDIATE takes the write lock before reading: an action's record and its
        # compensation's tombstone (from another worker process, say) cannot both see "no row".
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = work(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return result

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transact, work)

    async def lookup(self, idempotency_key: str) -> JournalEntry | None:
        def work(connection: sqlite3.Connection) -> JournalEntry | None:
            row = connection.execute(
                "SELECT * FROM effect_journal WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            if row is None:
                return None
            fields = dict(row)
            fields["result"] = json.loads(row["result"]) if row["result"] else None
            return JournalEntry(**fields)

        return await self._run(work)

    async def record_applied(
        self, idempotency_key: str, *, tool: str, task_id: str, result: dict[str, Any]
    ) -> bool:
        """Record that the action took effect with ``result``. False if its compensation got
        there first (a tombstone): the effect happened after its undo and must be undone now."""

        def work(connection: sqlite3.Connection) -> bool:
            row = connection.execute(
                "SELECT compensated_at FROM effect_journal WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
            if row is not None:
                return row["compensated_at"] is None  # recorded by an earlier attempt: fine
            connection.execute(
                "INSERT INTO effect_journal (idempotency_key, tool, task_id, result, applied_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (idempotency_key, tool, task_id, json.dumps(result, default=str), _now()),
            )
            return True

        return await self._run(work)

    async def record_compensated(
        self, idempotency_key: str, *, tool: str, task_id: str, compensation: str
    ) -> None:
        """Record the undo; with no row yet this is the tombstone that stops a late attempt."""

        def work(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO effect_journal"
                " (idempotency_key, tool, task_id, compensation, compensated_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (idempotency_key) DO UPDATE SET"
                " compensation = excluded.compensation, compensated_at = excluded.compensated_at"
                " WHERE effect_journal.compensated_at IS NULL",
                (idempotency_key, tool, task_id, compensation, _now()),
            )

        await self._run(work)

    async def entries(self, task_id: str) -> list[JournalEntry]:
        """Every row of one task, oldest key first (for audits and tests)."""

        def work(connection: sqlite3.Connection) -> list[JournalEntry]:
            rows = connection.execute(
                "SELECT * FROM effect_journal WHERE task_id = ? ORDER BY idempotency_key",
                (task_id,),
            ).fetchall()
            return [
                JournalEntry(
                    **{**dict(r), "result": json.loads(r["result"]) if r["result"] else None}
                )
                for r in rows
            ]

        return await self._run(work)
