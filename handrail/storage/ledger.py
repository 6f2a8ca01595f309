"""The run ledger: a durable record of finished tasks and their steps, for ``stats`` and
``export`` to answer without replaying a single workflow.

The ``record_run`` activity (``activities/ledger.py``) writes one :class:`RunRecord` per finished
task. A write is idempotent by ``(task_id, run_id)``: a retried activity stores the run once, and
says so (``write`` returns ``False``), so whatever counts runs downstream counts each once.

The ledger is two tables of Handrail's state database (``handrail.storage``: SQLite by default,
PostgreSQL by ``HANDRAIL_STATE_URL``); how a record becomes rows is in
``handrail.storage.ledger_rows``. This module writes, and answers the reads ``stats`` and
``export`` need (the trust engine's are in ``handrail.storage.ledger_evidence``), in SQLAlchemy
Core through the database's synchronous engine: those callers are synchronous, and a connection
per call (no pool) lets a worker's threads and a CLI share the database as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    case,
    func,
    or_,
    select,
    tuple_,
)

from handrail.contracts import RunRecord
from handrail.settings import HandrailSettings
from handrail.storage.commit_point import commit_point_rows
from handrail.storage.engine import STATE_BUSY_TIMEOUT_MS, StateDatabase
from handrail.storage.ledger_rows import (
    RUN_COLUMNS,
    STEP_COLUMNS,
    as_utc_text,
    run_row,
    step_rows,
)
from handrail.storage.schema import run_steps, runs
from handrail.storage.sqlite import BEGIN_OPTION, BUSY_OPTION, BUSY_TIMEOUT_MS

DECIDE_KIND: Final = "decide"  # the step kind of the model call, beside each tool's own


def ledger_url(settings: HandrailSettings) -> str:
    """Where the ledger lives: Handrail's state database (a secret URL: never show it)."""
    return settings.state_database_url


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
    commit_runs: int = 0
    """Runs whose commit point ran at least one deferred action."""
    commit_actions: list[tuple[str, int, int, int]] = field(default_factory=list)
    """(tool, ran at the commit point, failed there, never ran: a failed commit stopped first)"""


class RunLedger:
    """The ledger in Handrail's state database: ``state`` is a :class:`StateDatabase`, its URL,
    or a SQLite file's path. The schema is brought up to date on first use."""

    def __init__(self, state: str | Path | StateDatabase) -> None:
        self.database = StateDatabase.of(state)
        self.path: Path = self.database.sqlite_path or Path("handrail-state")
        """The SQLite file; on PostgreSQL a name in the working directory, used only to place
        files that once lived beside the ledger (an old autonomy log)."""

    def connect(self, *, write: bool = False) -> Connection:
        """A connection to the ledger's database, its schema up to date (also for the trust
        engine's reads, ``handrail.storage.ledger_evidence``)."""
        self.database.upgrade()  # once per process
        connection = self.database.sync_engine.connect()
        if write:
            return connection.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        return connection

    # --- writing ----------------------------------------------------------------------------

    async def write(self, record: RunRecord) -> bool:
        """Store a finished run and its steps in one transaction. ``False`` if this
        ``(task_id, run_id)`` was already stored (a retried write stores once).

        For the ``record_run`` activity: a state database that is away fails the attempt
        retryably with one log line (``handrail.storage.outage``), and SQLite's lock is waited
        for less than the activity's timeout (a timed-out attempt's thread would still store the
        run later, unseen by the retry, whose observers would then not count it)."""
        async with self.database.outages.waiting():
            return await asyncio.to_thread(self._write, [record], STATE_BUSY_TIMEOUT_MS) == 1

    def write_sync(self, record: RunRecord) -> bool:
        return self.write_many([record]) == 1

    def write_many(self, records: Iterable[RunRecord]) -> int:
        """Store many runs in one transaction (backfills, benchmarks); returns how many were
        new."""
        return self._write(records, BUSY_TIMEOUT_MS)

    def _write(self, records: Iterable[RunRecord], busy_timeout_ms: int) -> int:
        recorded_at = as_utc_text(datetime.now(UTC))
        insert_run = (
            self.database.insert(runs)
            .on_conflict_do_nothing(index_elements=[runs.c.task_id, runs.c.run_id])
            # Without this, psycopg's cursor is closed before it says how many rows went in.
            .execution_options(preserve_rowcount=True)
        )
        insert_steps = run_steps.insert()
        stored = 0
        connection = self.connect(write=True).execution_options(**{BUSY_OPTION: busy_timeout_ms})
        with connection as db, db.begin():
            for record in records:
                row = dict(zip(RUN_COLUMNS, run_row(record, recorded_at), strict=True))
                inserted = db.execute(insert_run, row)
                if inserted.rowcount != 1:
                    continue  # already there: its steps are too
                steps = [dict(zip(STEP_COLUMNS, row, strict=True)) for row in step_rows(record)]
                if steps:
                    db.execute(insert_steps, steps)
                stored += 1
        return stored

    # --- reading ----------------------------------------------------------------------------

    def count(self, *, since: datetime | None = None) -> int:
        with self.connect() as db:
            total = db.execute(
                select(func.count()).select_from(runs).where(*_since(runs.c.finished_at, since))
            ).scalar_one()
        return int(total)

    def aggregates(self, *, since: datetime | None = None) -> LedgerAggregates:
        """Everything ``stats`` reads, in one read transaction (one consistent snapshot)."""
        in_runs = _since(runs.c.finished_at, since)
        in_steps = _since(run_steps.c.finished_at, since)
        reviewed = [*in_steps, run_steps.c.verdict.is_not(None)]
        found = LedgerAggregates()
        with self.connect() as db:
            if self.database.dialect == "postgresql":  # SQLite's transaction is a snapshot
                db = db.execution_options(isolation_level="REPEATABLE READ")
            with db.begin():
                either = case((or_(runs.c.needed_review == 1, runs.c.escalated == 1), 1), else_=0)
                totals = db.execute(
                    select(
                        func.count(),
                        func.sum(runs.c.needed_review),
                        func.sum(runs.c.escalated),
                        func.sum(either),
                        func.min(runs.c.finished_at),
                        func.max(runs.c.finished_at),
                    ).where(*in_runs)
                ).one()
                tasks, needed, escalated, both, found.first_finished, found.last_finished = totals
                found.tasks = int(tasks)
                found.needed_review, found.escalated = int(needed or 0), int(escalated or 0)
                found.review_or_escalated = int(both or 0)
                found.statuses = [
                    (status, int(n))
                    for status, n in db.execute(
                        select(runs.c.status, func.count())
                        .where(*in_runs)
                        .group_by(runs.c.status)
                        .order_by(runs.c.status)
                    )
                ]
                found.task_tokens = [
                    (model, int(tokens_in), int(tokens_out))
                    for model, tokens_in, tokens_out in db.execute(
                        select(runs.c.model, runs.c.tokens_in, runs.c.tokens_out).where(*in_runs)
                    )
                ]
                found.outcomes = [
                    (action, outcome, int(n))
                    for action, outcome, n in db.execute(
                        select(run_steps.c.action, run_steps.c.outcome, func.count())
                        .where(*in_steps)
                        .group_by(run_steps.c.action, run_steps.c.outcome)
                        .order_by(run_steps.c.action, run_steps.c.outcome)
                    )
                ]
                decide: list[float] = []
                tools: dict[str, list[float]] = {}
                latencies = select(
                    run_steps.c.action, run_steps.c.decide_ms, run_steps.c.tool_ms
                ).where(*in_steps)
                for action, decide_ms, tool_ms in db.execute(latencies):
                    decide.append(decide_ms)
                    if tool_ms is not None:
                        tools.setdefault(action, []).append(tool_ms)
                if decide:
                    found.latencies_ms[DECIDE_KIND] = decide
                found.latencies_ms.update(sorted(tools.items()))
                found.verdicts = [
                    (profile, action, verdict, int(n))
                    for profile, action, verdict, n in db.execute(
                        select(
                            run_steps.c.profile,
                            run_steps.c.action,
                            run_steps.c.verdict,
                            func.count(),
                        )
                        .where(*reviewed)
                        .group_by(run_steps.c.profile, run_steps.c.action, run_steps.c.verdict)
                        .order_by(run_steps.c.profile, run_steps.c.action, run_steps.c.verdict)
                    )
                ]
                waits = select(
                    run_steps.c.profile, run_steps.c.action, run_steps.c.review_wait_s
                ).where(*reviewed)
                for profile, action, wait in db.execute(waits):
                    found.review_waits.setdefault((profile, action), []).append(wait)
                found.commit_runs, found.commit_actions = commit_point_rows(db, in_steps)
        return found

    def record_json(self, *, since: datetime | None = None, batch: int = 500) -> Iterator[str]:
        """Each stored run's redacted record as JSON, oldest first, read in batches.

        Each batch is its own query, after the last key of the one before (no cursor is held
        open between them, so a reader that stops early leaves nothing behind)."""
        order = (runs.c.finished_at, runs.c.task_id, runs.c.run_id)
        query = (
            select(runs.c.record_json, *order)
            .where(*_since(runs.c.finished_at, since))
            .order_by(*order)
            .limit(batch)
        )
        after: tuple[Any, ...] | None = None
        while True:
            page = query if after is None else query.where(tuple_(*order) > tuple_(*after))
            with self.connect() as db:
                rows = db.execute(page).all()
            for text, *_ in rows:
                yield text
            if len(rows) < batch:
                return
            after = tuple(rows[-1][1:])

    def records(self, *, since: datetime | None = None) -> Iterator[RunRecord]:
        """Each stored run, parsed back into a :class:`RunRecord`."""
        for text in self.record_json(since=since):
            yield RunRecord.model_validate_json(text)


def _since(column: Any, since: datetime | None) -> list[ColumnElement[bool]]:
    return [] if since is None else [column >= as_utc_text(since)]
