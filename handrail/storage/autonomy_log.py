"""The autonomy audit log in the state database: who promoted or demoted which tool, why, and
with what evidence (``handrail.trust.promotion`` appends, ``handrail.trust.autonomy`` reads).

One row per applied change in the ``autonomy_changes`` table (migration ``0004``), in the order
applied: the whole entry as JSON text (``payload``) beside the columns it is looked up by
(``profile``, ``tool``, and ``at`` as fixed-width UTC text, so text order is time order). What an
entry means is ``handrail.trust.autonomy.AutonomyChange``'s business; this store keeps JSON
objects and gives them back as stored. A promotion or demotion writes its entry together with
the level it sets, in one transaction (``handrail.storage.autonomy_levels``).

**The old file.** Before the state database held it, the log was ``<data_dir>/autonomy_log.jsonl``
(one JSON object per line). A store given that file (``legacy_file``) imports it on first use, in
the transaction that takes the write lock, and renames it ``autonomy_log.jsonl.imported``: a
second process waits for the lock, then finds no file to import, so the lines go in once. A line
that is not a JSON object with ``profile``, ``tool`` and ``at`` is skipped with a warning (it
stays in the ``.imported`` file).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, insert, select

from handrail.storage.engine import StateDatabase
from handrail.storage.schema import autonomy_changes
from handrail.storage.sqlite import BEGIN_OPTION

log = logging.getLogger(__name__)

LEGACY_LOG_FILE: Final = "autonomy_log.jsonl"
"""The file the audit log was before it moved into the state database (in ``<data_dir>``)."""

IMPORTED_SUFFIX: Final = ".imported"
"""What an imported legacy file is renamed with (``autonomy_log.jsonl.imported``)."""

# An arbitrary constant: the advisory lock a PostgreSQL import holds to its transaction's end.
_IMPORT_LOCK: Final = 0x4175646974  # "Audit"


class AuditEntryError(ValueError):
    """An entry without the ``profile``, ``tool`` and ``at`` the log is looked up by."""


@dataclass(frozen=True)
class AuditEntry:
    """One stored change: its place in the log, its lookup columns, its JSON as stored."""

    id: int
    at: str
    profile: str
    tool: str
    payload: str

    def data(self) -> Any:
        """The entry's JSON, parsed."""
        return json.loads(self.payload)


def utc_text(moment: datetime | str) -> str:
    """A time as the log stores it: UTC, fixed width (naive times are taken to be UTC)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_row(entry: Mapping[str, Any]) -> dict[str, str]:
    """The columns of one audit entry (``AuditEntryError`` without profile, tool or time)."""
    profile, tool, at = entry.get("profile"), entry.get("tool"), entry.get("at")
    if not isinstance(profile, str) or not isinstance(tool, str):
        raise AuditEntryError("an autonomy change needs a profile and a tool")
    if not isinstance(at, (str, datetime)):
        raise AuditEntryError("an autonomy change needs a time (at)")
    try:
        at_text = utc_text(at)
    except ValueError:
        raise AuditEntryError(f"{at!r} is not an ISO time") from None
    payload = json.dumps(dict(entry), ensure_ascii=False, sort_keys=True, default=str)
    return {"at": at_text, "profile": profile, "tool": tool, "payload": payload}


def _legacy_rows(path: Path) -> list[dict[str, str]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise AuditEntryError("not a JSON object")
            rows.append(entry_row(entry))
        except ValueError as error:  # JSONDecodeError and AuditEntryError too
            log.warning("%s line %d not imported: %s", path, number, error)
    return rows


class AutonomyLog:
    """The audit log in a state database (a :class:`StateDatabase`, its URL, or a SQLite
    file's path); ``legacy_file``, if given, is an old ``autonomy_log.jsonl`` to import once.

    Synchronous, like its callers (``stats``, ``promote``): a connection per call."""

    def __init__(
        self, state: str | Path | StateDatabase, *, legacy_file: Path | None = None
    ) -> None:
        self.database = StateDatabase.of(state)
        self.legacy_file = legacy_file
        self._imported = legacy_file is None
        self._lock = threading.Lock()

    @classmethod
    def beside(cls, legacy_file: Path) -> AutonomyLog:
        """The log of the default layout: the SQLite state database ``handrail.db`` in the
        folder of ``legacy_file`` (``<data_dir>``), importing that file if it is there."""
        return cls(legacy_file.parent / "handrail.db", legacy_file=legacy_file)

    def __repr__(self) -> str:
        return f"AutonomyLog({self.database.redacted!r})"

    @property
    def where(self) -> str:
        """Where the log is, for messages (the URL without its password)."""
        return f"{autonomy_changes.name} in {self.database.redacted}"

    def _connect(self, *, write: bool = False) -> Connection:
        self.database.upgrade()  # once per process
        connection = self.database.sync_engine.connect()
        if write:
            return connection.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        return connection

    def ready(self) -> None:
        """Import the legacy file if one is given and not yet imported (once per store)."""
        with self._lock:
            if not self._imported:
                self.import_legacy()
                self._imported = True

    # --- writing ----------------------------------------------------------------------------

    def append(self, entry: Mapping[str, Any]) -> AuditEntry:
        """Store one change (a JSON object with ``profile``, ``tool`` and ``at``), committed
        before this returns."""
        row = entry_row(entry)
        self.ready()
        with self._connect(write=True) as db, db.begin():
            new_id = db.execute(
                insert(autonomy_changes).returning(autonomy_changes.c.id), row
            ).scalar_one()
        return AuditEntry(id=int(new_id), **row)

    def import_legacy(self) -> int:
        """Import :attr:`legacy_file` if it is there, and rename it ``.imported``; returns how
        many entries went in (0: no file, or another process imported it first)."""
        path = self.legacy_file
        if path is None:
            return 0
        done: Path | None = None
        with self._connect(write=True) as db:
            try:
                with db.begin():  # committed on leaving, after the rename
                    if self.database.dialect == "postgresql":
                        db.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_IMPORT_LOCK})")
                    # Looked at under the write lock: a process that imported first renamed it.
                    if not path.is_file():
                        return 0
                    rows = _legacy_rows(path)
                    if rows:
                        db.execute(insert(autonomy_changes), rows)
                    done = path.with_name(path.name + IMPORTED_SUFFIX)
                    path.replace(done)
            except BaseException:
                if done is not None and done.exists():
                    done.replace(path)  # not imported after all: the file stays where it was
                raise
        log.info("imported %d autonomy change(s) from %s (renamed %s)", len(rows), path, done)
        return len(rows)

    # --- reading ----------------------------------------------------------------------------

    def entries(self, *, profile: str | None = None, tool: str | None = None) -> list[AuditEntry]:
        """Every stored change (of one profile, one tool), in the order applied."""
        self.ready()
        query = select(autonomy_changes).order_by(autonomy_changes.c.id)
        if profile is not None:
            query = query.where(autonomy_changes.c.profile == profile)
        if tool is not None:
            query = query.where(autonomy_changes.c.tool == tool)
        with self._connect() as db:
            return [
                AuditEntry(
                    id=row.id, at=row.at, profile=row.profile, tool=row.tool, payload=row.payload
                )
                for row in db.execute(query)
            ]
