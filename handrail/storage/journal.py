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

The journal is a table of Handrail's state database (``handrail.storage.engine``: SQLite or
PostgreSQL by one URL). Every write is one statement that cannot lose a race: the applied
record is ``INSERT ... ON CONFLICT DO NOTHING`` (a row already there, tombstone or earlier
attempt, wins and is read back in the same transaction), the undo is an upsert that never
overwrites an earlier undo. On SQLite the transaction also takes the write lock first (BEGIN
IMMEDIATE), as before; on PostgreSQL the unique key makes a concurrent insert wait for the
other's commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, select

from handrail.storage.engine import StateDatabase
from handrail.storage.schema import effect_journal as table

T = TypeVar("T")


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

    @classmethod
    def of(cls, row: Row[Any]) -> JournalEntry:
        fields = dict(row._mapping)
        fields["result"] = json.loads(fields["result"]) if fields["result"] else None
        return cls(**fields)


class EffectJournal:
    """The journal in Handrail's state database.

    ``state`` is a :class:`StateDatabase`, its URL, or a SQLite file's path. The schema is
    brought up to date on first use; :meth:`aclose` closes the pooled connections.
    """

    def __init__(self, state: str | Path | StateDatabase) -> None:
        self.database = StateDatabase.of(state)

    async def _transact(self, work: Callable[[Connection], T]) -> T:
        return await self.database.run(work, immediate=True)

    async def aclose(self) -> None:
        await self.database.aclose()

    async def lookup(self, idempotency_key: str) -> JournalEntry | None:
        def work(connection: Connection) -> JournalEntry | None:
            found = connection.execute(
                select(table).where(table.c.idempotency_key == idempotency_key)
            )
            row = found.first()
            return None if row is None else JournalEntry.of(row)

        return await self._transact(work)

    async def record_applied(
        self, idempotency_key: str, *, tool: str, task_id: str, result: dict[str, Any]
    ) -> bool:
        """Record that the action took effect with ``result``. False if its compensation got
        there first (a tombstone): the effect happened after its undo and must be undone now."""

        def work(connection: Connection) -> bool:
            inserted = connection.execute(
                self.database.insert(table)
                .values(
                    idempotency_key=idempotency_key,
                    tool=tool,
                    task_id=task_id,
                    result=json.dumps(result, default=str),
                    applied_at=_now(),
                )
                .on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
                # Without this, psycopg's cursor is closed before it says how many rows went in.
                .execution_options(preserve_rowcount=True)
            )
            if inserted.rowcount == 1:
                return True
            found = connection.execute(
                select(table.c.compensated_at).where(table.c.idempotency_key == idempotency_key)
            )
            # Recorded by an earlier attempt: fine. A tombstone: the undo came first.
            return found.scalar_one() is None

        return await self._transact(work)

    async def record_compensated(
        self, idempotency_key: str, *, tool: str, task_id: str, compensation: str
    ) -> None:
        """Record the undo; with no row yet this is the tombstone that stops a late attempt."""

        def work(connection: Connection) -> None:
            statement = self.database.insert(table).values(
                idempotency_key=idempotency_key,
                tool=tool,
                task_id=task_id,
                compensation=compensation,
                compensated_at=_now(),
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[table.c.idempotency_key],
                    set_={
                        "compensation": statement.excluded.compensation,
                        "compensated_at": statement.excluded.compensated_at,
                    },
                    where=table.c.compensated_at.is_(None),
                )
            )

        await self._transact(work)

    async def entries(self, task_id: str) -> list[JournalEntry]:
        """Every row of one task, oldest key first (for audits and tests)."""

        def work(connection: Connection) -> list[JournalEntry]:
            found = connection.execute(
                select(table).where(table.c.task_id == task_id).order_by(table.c.idempotency_key)
            )
            return [JournalEntry.of(row) for row in found]

        return await self._transact(work)
