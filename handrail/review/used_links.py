"""Single use of review links: a table in Handrail's state database, consumed atomically.

Consuming is one ``INSERT ... ON CONFLICT (link_id) DO NOTHING``: of two clicks at once, on one
gateway or two sharing the state database, exactly one inserts the row; the other inserts
nothing and is told the link was used. The same statement on SQLite (whose writer takes the
write lock first) and PostgreSQL (whose unique index decides).

A link whose decision could not be delivered (Temporal unreachable, no worker) is released
again, so that a reviewer can retry the click: the workflow itself refuses a second decision of
the same step (``ReviewStale``), so a release can never make one link decide twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, delete, select

from handrail.review.links import LinkClaims
from handrail.storage.engine import StateDatabase
from handrail.storage.schema import used_links as table


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class UsedLinks:
    """The ``used_links`` table: which signed links have decided already."""

    def __init__(self, state: str | Path | StateDatabase) -> None:
        self.database = StateDatabase.of(state)

    async def aclose(self) -> None:
        await self.database.aclose()

    async def consume(self, claims: LinkClaims, now: datetime | None = None) -> bool:
        """Record the link as used; False if it was used before (nothing is written)."""
        row = {
            "link_id": claims.link_id,
            "task_id": claims.task_id,
            "step": claims.step,
            "reviewer": claims.reviewer,
            "verdict": claims.verdict,
            "expires_at": _stamp(claims.expires_at),
            "used_at": _stamp(now or datetime.now(UTC)),
        }
        statement = (
            self.database.insert(table)
            .values(**row)
            .on_conflict_do_nothing(index_elements=[table.c.link_id])
            # An INSERT's rowcount is kept only on request: it is the answer here.
            .execution_options(preserve_rowcount=True)
        )

        def work(connection: Connection) -> bool:
            inserted = connection.execute(statement)
            return bool(inserted.rowcount == 1)

        return await self.database.run(work, immediate=True)

    async def is_used(self, link_id: str) -> bool:
        """Whether the link has decided already (a read: only ``consume`` arbitrates)."""

        def work(connection: Connection) -> bool:
            found = connection.execute(select(table.c.link_id).where(table.c.link_id == link_id))
            return found.first() is not None

        return await self.database.run(work)

    async def release(self, link_id: str) -> None:
        """Forget a use whose decision never reached the task (see the module's docstring)."""

        def work(connection: Connection) -> None:
            connection.execute(delete(table).where(table.c.link_id == link_id))

        await self.database.run(work, immediate=True)

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete the rows of links past their expiry (they are refused before this table is
        read); how many were deleted. Housekeeping: nothing calls it on a schedule yet."""
        cutoff = _stamp(now or datetime.now(UTC))

        def work(connection: Connection) -> int:
            deleted = connection.execute(
                delete(table)
                .where(table.c.expires_at < cutoff)
                .execution_options(preserve_rowcount=True)
            )
            return int(deleted.rowcount)

        return await self.database.run(work, immediate=True)
