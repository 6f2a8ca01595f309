"""The helpdesk's own ticket system: one SQLite file with tickets, closures and an outbox.

It stands for the system a team already runs (a ticket tracker, a CRM, a homegrown database)
and knows nothing of Handrail except the idempotency key each effect row keeps.

Exactly once, the key path: a closure and an outbox message carry the key of the call that made
them under a UNIQUE constraint. A call retried after its effect committed finds its own row and
returns it instead of acting again, and the undo deletes by the key. Handrail's effect journal
is written after the effect, in another database, so this constraint is what covers a crash (or
a lost reply) between the two.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id        INTEGER PRIMARY KEY,
    title     TEXT NOT NULL,
    requester TEXT NOT NULL,
    status    TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed'))
);
-- One row per close, under the key of the call that closed the ticket (the key starts with the
-- task's id, so it also says which task did it).
CREATE TABLE IF NOT EXISTS closures (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id),
    resolution      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE
);
-- Messages to requesters, drained by a mail relay: a row here counts as sent.
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id),
    to_address      TEXT NOT NULL,
    message         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE
);
"""


class TicketError(Exception):
    """The ticket system says no: no such ticket, or it is already closed."""


@dataclass(frozen=True)
class Ticket:
    id: int
    title: str
    requester: str
    status: Literal["open", "closed"]


@dataclass(frozen=True)
class Closure:
    id: int
    ticket_id: int
    resolution: str


class TicketSystem:
    """The tickets in ``path`` (created if missing). Async: SQLite runs in a thread so a slow
    disk never blocks the worker's event loop."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")  # the tests read beside the worker
            connection.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return connection

    def _transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._connect()
        try:
            # IMMEDIATE takes the write lock before the key is looked up: two attempts of one
            # call cannot both see "no row yet".
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result
        finally:
            connection.close()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._transact, work)

    async def add(self, title: str, requester: str) -> int:
        """Open a ticket (how tickets arrive: a form, an email)."""

        def work(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "INSERT INTO tickets (title, requester) VALUES (?, ?)", (title, requester)
            )
            return int(cursor.lastrowid or 0)

        return await self._run(work)

    async def get(self, ticket_id: int) -> Ticket | None:
        def work(connection: sqlite3.Connection) -> Ticket | None:
            row = connection.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            return Ticket(**dict(row)) if row is not None else None

        return await self._run(work)

    async def close(self, ticket_id: int, resolution: str, *, key: str) -> Closure:
        """Close a ticket, once per ``key``: a second call with the same key returns the first
        call's closure."""

        def work(connection: sqlite3.Connection) -> Closure:
            mine = connection.execute(
                "SELECT id, ticket_id, resolution FROM closures WHERE idempotency_key = ?", (key,)
            ).fetchone()
            if mine is not None:  # an earlier attempt closed it: report that, do nothing
                return Closure(**dict(mine))
            ticket = connection.execute(
                "SELECT status FROM tickets WHERE id = ?", (ticket_id,)
            ).fetchone()
            if ticket is None:
                raise TicketError(f"no ticket #{ticket_id}")
            if ticket["status"] == "closed":
                raise TicketError(f"ticket #{ticket_id} is already closed")
            cursor = connection.execute(
                "INSERT INTO closures (ticket_id, resolution, idempotency_key) VALUES (?, ?, ?)",
                (ticket_id, resolution, key),
            )
            connection.execute("UPDATE tickets SET status = 'closed' WHERE id = ?", (ticket_id,))
            return Closure(
                id=int(cursor.lastrowid or 0), ticket_id=ticket_id, resolution=resolution
            )

        return await self._run(work)

    async def reopen(self, key: str) -> bool:
        """Undo the close made under ``key``; False when there is none (it never happened, or
        it was undone already)."""

        def work(connection: sqlite3.Connection) -> bool:
            row = connection.execute(
                "DELETE FROM closures WHERE idempotency_key = ? RETURNING ticket_id", (key,)
            ).fetchone()
            if row is None:
                return False
            connection.execute(
                "UPDATE tickets SET status = 'open' WHERE id = ?", (row["ticket_id"],)
            )
            return True

        return await self._run(work)

    async def notify(self, ticket_id: int, message: str, *, key: str) -> int:
        """Queue a message to the ticket's requester, once per ``key``; returns its outbox id."""

        def work(connection: sqlite3.Connection) -> int:
            ticket = connection.execute(
                "SELECT requester FROM tickets WHERE id = ?", (ticket_id,)
            ).fetchone()
            if ticket is None:
                raise TicketError(f"no ticket #{ticket_id}")
            # The UNIQUE key, not a lookup first, is what keeps a retry from sending twice.
            connection.execute(
                "INSERT INTO outbox (ticket_id, to_address, message, idempotency_key)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
                (ticket_id, ticket["requester"], message, key),
            )
            row = connection.execute(
                "SELECT id FROM outbox WHERE idempotency_key = ?", (key,)
            ).fetchone()
            return int(row["id"])

        return await self._run(work)
