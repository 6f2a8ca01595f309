"""Autonomy levels in force, in the state database every worker host reads: one truth.

A profile file says where each tool starts; once a person promotes or demotes a tool
(``starter.py promote`` / ``demote``, ``handrail.trust.promotion``), the level lives in the
``autonomy_levels`` table (migration ``0007``), one row per (profile, tool). The
``load_profile`` activity overlays these rows on the file (``activities/profiles.py``), so a
worker on any host gates the next task with the same level, whatever its own copy of the file
says; the activity's result is recorded in history, so a replay uses the level it ran with.

**One transaction per change.** :meth:`AutonomyLevels.change` reads the level in force, lets
the caller decide the new one and the audit entry (who, why, evidence), then writes both: the
entry into ``autonomy_changes`` and the level row naming it. Either both land or neither. Two
changes of the same tool at once take turns (SQLite: ``BEGIN IMMEDIATE``, the database's write
lock; PostgreSQL: a transaction-scoped advisory lock on the (profile, tool), because the row to
lock with ``FOR UPDATE`` may not exist yet), so the second reads what the first wrote: two
promotions from ``suggest`` end at ``autonomous``, never at ``supervised`` twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from handrail.contracts import Autonomy
from handrail.storage.autonomy_log import AuditEntry, AutonomyLog, entry_row
from handrail.storage.engine import StateDatabase
from handrail.storage.schema import autonomy_changes, autonomy_levels
from handrail.storage.sqlite import BEGIN_OPTION

Plan = Callable[[Autonomy], tuple[Autonomy, Mapping[str, Any]]]
"""Given the level in force, the new level and the audit entry to record with it (or raise:
nothing is written)."""


@dataclass(frozen=True)
class LevelInForce:
    """A tool's level as the state database holds it."""

    profile: str
    tool: str
    autonomy: Autonomy
    """As stored; a reader that gates with it checks it is one of the levels."""
    version: int
    """How many changes the tool has had (1 after the first)."""
    changed_at: str
    change_id: int
    """The audit entry (``autonomy_changes.id``) that set it."""


def _lock(connection: Connection, dialect: str, profile: str, tool: str) -> None:
    if dialect == "postgresql":
        key = func.hashtext(f"autonomy\x1f{profile}\x1f{tool}")
        connection.execute(select(func.pg_advisory_xact_lock(key)))


def _read(connection: Connection, profile: str, tool: str | None = None) -> list[LevelInForce]:
    query = select(autonomy_levels).where(autonomy_levels.c.profile == profile)
    if tool is not None:
        query = query.where(autonomy_levels.c.tool == tool)
    return [
        LevelInForce(
            profile=row.profile,
            tool=row.tool,
            autonomy=row.autonomy,
            version=row.version,
            changed_at=row.changed_at,
            change_id=row.change_id,
        )
        for row in connection.execute(query.order_by(autonomy_levels.c.tool))
    ]


class AutonomyLevels:
    """The levels in force in a state database (a :class:`StateDatabase`, its URL, or a SQLite
    file's path). Reading is cheap (one indexed SELECT by profile)."""

    def __init__(self, state: str | Path | StateDatabase) -> None:
        self.database = StateDatabase.of(state)

    def __repr__(self) -> str:
        return f"AutonomyLevels({self.database.redacted!r})"

    # --- reading ----------------------------------------------------------------------------

    def current(self, profile: str) -> dict[str, LevelInForce]:
        """Tool → its level in force, for the tools of ``profile`` a person changed (others
        are at their profile file's level). Synchronous: for ``stats`` and ``promote``."""
        self.database.upgrade()
        with self.database.sync_engine.connect() as db:
            return {level.tool: level for level in _read(db, profile)}

    async def current_async(self, profile: str) -> dict[str, LevelInForce]:
        """:meth:`current` from async code (the ``load_profile`` activity), off the loop."""
        found = await self.database.run(lambda db: _read(db, profile))
        return {level.tool: level for level in found}

    # --- changing ---------------------------------------------------------------------------

    def change(
        self,
        profile: str,
        tool: str,
        *,
        start: Autonomy,
        plan: Plan,
        log: AutonomyLog | None = None,
    ) -> tuple[LevelInForce, AuditEntry]:
        """Change ``tool``'s level in ``profile`` in one transaction with its audit entry.

        ``start`` is the level when the state has none (the profile file's). ``plan`` gets the
        level in force, read under the lock, and returns the new level and the audit entry; if
        it raises, nothing is written. ``log``: an audit log whose legacy file to import first
        (it must be this state database's)."""
        if log is not None:
            log.ready()
        self.database.upgrade()
        connection = self.database.sync_engine.connect().execution_options(
            **{BEGIN_OPTION: "IMMEDIATE"}
        )
        with connection as db, db.begin():
            _lock(db, self.database.dialect, profile, tool)
            found = _read(db, profile, tool)
            before = found[0] if found else None
            level, entry = plan(before.autonomy if before else start)
            row = entry_row(entry)
            change_id = int(
                db.execute(
                    insert(autonomy_changes).returning(autonomy_changes.c.id), row
                ).scalar_one()
            )
            now = LevelInForce(
                profile=profile,
                tool=tool,
                autonomy=level,
                version=(before.version if before else 0) + 1,
                changed_at=row["at"],
                change_id=change_id,
            )
            values = {
                "autonomy": now.autonomy,
                "version": now.version,
                "changed_at": now.changed_at,
                "change_id": now.change_id,
            }
            if before is None:
                db.execute(insert(autonomy_levels).values(profile=profile, tool=tool, **values))
            else:
                db.execute(
                    update(autonomy_levels)
                    .where(autonomy_levels.c.profile == profile, autonomy_levels.c.tool == tool)
                    .values(**values)
                )
        return now, AuditEntry(id=change_id, **row)
