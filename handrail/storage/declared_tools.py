"""The tools workers declare, in the state database every host reads.

A tool's facts live where it is declared: in the worker process of the team that owns it
(``@tool``). ``stats``, ``promote``, ``demote`` and the HTTP gateway run elsewhere, with none of
those tools imported, yet need what they are: a tool without a rule starts at a level that
depends on whether it only reads, and the inbox builds its edit form from a tool's argument
schema and shows the money its amount argument moves.

So every worker writes the tools it registers into ``declared_tools`` (migration ``0008``) when
it starts (``HandrailPlugin``), one row per name: an upsert, so the latest worker to start with
a tool describes it. Rows are never deleted: a tool no worker registers any more keeps the
facts its recorded runs were gated with. MCP tools are not here: their facts come from the
profile's rules, resolved when a task loads its profile.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from handrail.storage.engine import StateDatabase
from handrail.storage.schema import declared_tools as table


@dataclass(frozen=True)
class DeclaredTool:
    """One tool as a worker declared it."""

    name: str
    read_only: bool
    compensation: str | None
    """The compensation that undoes it (``None``: read-only or irreversible)."""
    irreversible: bool
    amount_field: str | None = None
    """The argument that carries money."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """The JSON schema of its arguments."""
    declared_at: str = ""
    """When the worker that wrote this row started (ISO 8601, UTC)."""


def _row(tool: DeclaredTool, at: str) -> dict[str, Any]:
    return {
        "name": tool.name,
        "read_only": int(tool.read_only),
        "compensation": tool.compensation,
        "irreversible": int(tool.irreversible),
        "amount_field": tool.amount_field,
        "parameters": json.dumps(tool.parameters, sort_keys=True),
        "declared_at": at,
    }


def _read(connection: Connection) -> dict[str, DeclaredTool]:
    return {
        row.name: DeclaredTool(
            name=row.name,
            read_only=bool(row.read_only),
            compensation=row.compensation,
            irreversible=bool(row.irreversible),
            amount_field=row.amount_field,
            parameters=json.loads(row.parameters),
            declared_at=row.declared_at,
        )
        for row in connection.execute(select(table).order_by(table.c.name))
    }


class DeclaredTools:
    """The ``declared_tools`` table of a state database (a :class:`StateDatabase`, its URL, or
    a SQLite file's path)."""

    def __init__(self, state: str | Path | StateDatabase) -> None:
        self.database = StateDatabase.of(state)

    def __repr__(self) -> str:
        return f"DeclaredTools({self.database.redacted!r})"

    async def declare(self, tools: Iterable[DeclaredTool]) -> None:
        """Write ``tools``, each replacing what an earlier worker declared under its name."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        # In name order: two workers starting at once lock the rows in the same order.
        rows = [_row(tool, at) for tool in sorted(tools, key=lambda tool: tool.name)]
        if not rows:
            return
        statement = self.database.insert(table).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.name],
            set_={name: statement.excluded[name] for name in rows[0] if name != "name"},
        )

        def work(connection: Connection) -> None:
            connection.execute(statement)

        await self.database.run(work, immediate=True)

    def all(self) -> dict[str, DeclaredTool]:
        """Every declared tool by name. Synchronous, a connection of its own: for ``stats``,
        ``promote`` and the gateway (from a thread)."""
        self.database.upgrade()
        with self.database.sync_engine.connect() as connection:
            return _read(connection)
