"""The run ledger: a durable record of finished tasks and their steps, for ``stats`` and
``export`` to answer without replaying a single workflow.

The ``record_run`` activity (``activities/ledger.py``) writes one :class:`RunRecord` per finished
task. A write is idempotent by ``(task_id, run_id)``: a retried activity stores the run once, and
says so (``write`` returns ``False``), so whatever counts runs downstream counts each once.

The schema, and how a record becomes rows, is in ``handrail.reports.ledger_rows``; this module
owns the file: opening it, writing, and the reads ``stats``, ``export`` and autonomy need.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from handrail.contracts import RunRecord
from handrail.reports.ledger_rows import (
    DDL,
    INSERT_RUN,
    INSERT_STEP,
    SCHEMA_VERSION,
    as_utc_text,
    run_row,
    step_rows,
)
from handrail.settings import HandrailSettings

LEDGER_FILE: Final = "ledger.db"
DECIDE_KIND: Final = "decide"  # the step kind of the model call, beside each tool's own


def ledger_path(settings: HandrailSettings) -> Path:
    """Where the ledger lives: ``<data_dir>/ledger.db``."""
    return settings.data_dir / LEDGER_FILE


@dataclass
class LedgerAggregates:
    """What ``stats`` needs, aggregated by SQL where SQL helps (``handrail.reports.stats``
    turns it into a report). Latencies come back as lists: percentiles are not portable SQL."""

    tasks: int = 0
    needed_review: int = 0
    escalated: int = 0
    review_or_escalated: int = 0
    first_finished: str | None = None
    last_finished: str | None = None
    statuses: list[tuple[str, int]] = field(default_factory=list)
    outcomes: list[tuple[str, str, int]] = field(default_factory=list)
    """(action, outcome, count)"""
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    """step kind (``decide`` or a tool) → latencies"""
    task_tokens: list[tuple[str, int, int]] = field(default_factory=list)
    """(model, tokens in, tokens out), one per task"""
    verdicts: list[tuple[str, str, str, int]] = field(default_factory=list)
    """(profile, tool, verdict, count)"""
    review_waits: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(profile, tool) → seconds each decided review waited"""


class RunLedger:
    """The ledger in one SQLite file. Each call opens its own connection (short-lived, so the
    worker's threads and a CLI reading at the same time never share one)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._session() as db:
            db.execute("BEGIN IMMEDIATE")
            for statement in DDL:
                db.execute(statement)
            db.execute(
                "INSERT INTO ledger_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                ("schema_version", str(SCHEMA_VERSION)),
            )
            db.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are explicit (BEGIN ... COMMIT) below.
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        # SQLite-only: readers do not block the writer, nor it them.
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _session(self) -> _Session:
        return _Session(self._connect())

    # --- writing ----------------------------------------------------------------------------

    async def write(self, record: RunRecord) -> bool:
        """Store a finished run and its steps in one transaction. ``False`` if this
        ``(task_id, run_id)`` was already stored (a retried write stores once)."""
        return await asyncio.to_thread(self.write_sync, record)

    def write_sync(self, record: RunRecord) -> bool:
        return self.write_many([record]) == 1

    def write_many(self, records: Iterable[RunRecord]) -> int:
        """Store many runs in one transaction (backfills, benchmarks); returns how many were
        new."""
        recorded_at = as_utc_text(datetime.now(UTC))
        stored = 0
        with self._session() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                for record in records:
                    cursor = db.execute(INSERT_RUN, run_row(record, recorded_at))
                    if cursor.rowcount != 1:
                        continue  # already there: its steps are too
                    db.executemany(INSERT_STEP, step_rows(record))
                    stored += 1
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return stored

    # --- reading ----------------------------------------------------------------------------

    def count(self, *, since: datetime | None = None) -> int:
        where, params = _since("finished_at", since)
        with self._session() as db:
            (total,) = db.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()
        return int(total)

    def aggregates(self, *, since: datetime | None = None) -> LedgerAggregates:
        """Everything ``stats`` reads, in one read transaction (one consistent snapshot)."""
        where, params = _since("finished_at", since)
        found = LedgerAggregates()
        with self._session() as db:
            db.execute("BEGIN")
            (
                found.tasks,
                needed,
                escalated,
                either,
                found.first_finished,
                found.last_finished,
            ) = db.execute(
                "SELECT COUNT(*), SUM(needed_review), SUM(escalated), "
                "SUM(CASE WHEN needed_review = 1 OR escalated = 1 THEN 1 ELSE 0 END), "
                f"MIN(finished_at), MAX(finished_at) FROM runs{where}",
                params,
            ).fetchone()
            found.needed_review, found.escalated = int(needed or 0), int(escalated or 0)
            found.review_or_escalated = int(either or 0)
            found.statuses = db.execute(
                f"SELECT status, COUNT(*) FROM runs{where} GROUP BY status ORDER BY status",
                params,
            ).fetchall()
            found.task_tokens = db.execute(
                f"SELECT model, tokens_in, tokens_out FROM runs{where}", params
            ).fetchall()
            found.outcomes = db.execute(
                f"SELECT action, outcome, COUNT(*) FROM run_steps{where} "
                "GROUP BY action, outcome ORDER BY action, outcome",
                params,
            ).fetchall()
            decide: list[float] = []
            tools: dict[str, list[float]] = {}
            for action, decide_ms, tool_ms in db.execute(
                f"SELECT action, decide_ms, tool_ms FROM run_steps{where}", params
            ):
                decide.append(decide_ms)
                if tool_ms is not None:
                    tools.setdefault(action, []).append(tool_ms)
            if decide:
                found.latencies_ms[DECIDE_KIND] = decide
            found.latencies_ms.update(sorted(tools.items()))
            reviewed = " AND " if where else " WHERE "
            found.verdicts = db.execute(
                f"SELECT profile, action, verdict, COUNT(*) FROM run_steps{where}"
                f"{reviewed}verdict IS NOT NULL GROUP BY profile, action, verdict "
                "ORDER BY profile, action, verdict",
                params,
            ).fetchall()
            for profile, action, wait in db.execute(
                f"SELECT profile, action, review_wait_s FROM run_steps{where}"
                f"{reviewed}verdict IS NOT NULL",
                params,
            ):
                found.review_waits.setdefault((profile, action), []).append(wait)
            db.execute("COMMIT")
        return found

    def recent_verdicts(
        self, profile: str, tool: str, *, after: datetime | None = None, limit: int | None = None
    ) -> list[str]:
        """The verdicts reviewers gave ``tool`` in ``profile``'s runs, newest first: those
        decided after ``after`` (e.g. the tool's last autonomy change), at most ``limit``."""
        sql = (
            "SELECT verdict FROM run_steps WHERE profile = ? AND action = ? AND verdict IS NOT NULL"
        )
        params: list[Any] = [profile, tool]
        if after is not None:
            sql += " AND reviewed_at > ?"
            params.append(as_utc_text(after))
        sql += " ORDER BY reviewed_at DESC, task_id, step"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._session() as db:
            return [verdict for (verdict,) in db.execute(sql, params)]

    def tool_evidence(self, rolled_back: Sequence[str]) -> list[tuple[str, bool, bool, bool]]:
        """Per tool the runs called: (tool, ever deferred, ever undone, ever ran, succeeded and
        stayed in a run whose status is one of ``rolled_back``), read by
        ``handrail.reports.tool_facts``, which says what each one proves."""
        marks = ", ".join("?" for _ in rolled_back) or "NULL"
        with self._session() as db:
            rows = db.execute(
                "SELECT s.action, MAX(s.deferred), MAX(s.compensated), "
                f"MAX(CASE WHEN r.status IN ({marks}) AND s.ok = 1 AND s.deferred = 0 "
                "AND s.compensated = 0 THEN 1 ELSE 0 END) "
                "FROM run_steps s JOIN runs r ON r.task_id = s.task_id AND r.run_id = s.run_id "
                "WHERE s.kind = 'tool_call' GROUP BY s.action ORDER BY s.action",
                tuple(rolled_back),
            ).fetchall()
        return [(tool, bool(d), bool(c), bool(r)) for tool, d, c, r in rows]

    def actions(self) -> list[tuple[str, str]]:
        """Every (profile, action) the recorded runs hold: the tools runs actually called, for
        whoever needs more than the profile files name."""
        with self._session() as db:
            return db.execute(
                "SELECT DISTINCT profile, action FROM run_steps ORDER BY profile, action"
            ).fetchall()

    def record_json(self, *, since: datetime | None = None, batch: int = 500) -> Iterator[str]:
        """Each stored run's redacted record as JSON, oldest first, read in batches."""
        where, params = _since("finished_at", since)
        with self._session() as db:
            cursor = db.execute(
                f"SELECT record_json FROM runs{where} ORDER BY finished_at, task_id, run_id",
                params,
            )
            while rows := cursor.fetchmany(batch):
                for (text,) in rows:
                    yield text

    def records(self, *, since: datetime | None = None) -> Iterator[RunRecord]:
        """Each stored run, parsed back into a :class:`RunRecord`."""
        for text in self.record_json(since=since):
            yield RunRecord.model_validate_json(text)


def _since(column: str, since: datetime | None) -> tuple[str, tuple[str, ...]]:
    if since is None:
        return "", ()
    return f" WHERE {column} >= ?", (as_utc_text(since),)


class _Session:
    """A connection that is closed (not merely committed) when the block ends."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()
