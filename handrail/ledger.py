"""The run ledger: a durable record of finished tasks and their steps, for ``starter.py stats``
and ``starter.py export`` to answer without replaying a single workflow.

The ``record_run`` activity (``activities/ledger.py``) writes one :class:`RunRecord` per finished
task. A write is idempotent by ``(task_id, run_id)``: a retried activity stores the run once, and
says so (``write`` returns ``False``), so whatever counts runs downstream counts each once.

Two tables, plus a one-row-per-key ``ledger_meta``:

- ``runs``: one row per finished run: profile, model, status, timings, tokens, whether it needed
  a reviewer or escalated, and the whole redacted record as JSON (``record_json``, which export
  reads and from which every other column can be derived again);
- ``run_steps``: one row per step: the action (tool name, or ``final_answer`` / ``escalate`` /
  ``invalid``), its outcome category (:data:`OUTCOMES`), latencies, tokens, the gate's verdict
  and the reviewer's. ``profile`` and ``finished_at`` are copied from the run so that stats
  filter and group without a join.

The DDL is plain SQL (``TEXT``, ``INTEGER``, ``REAL``; ``CREATE ... IF NOT EXISTS``;
``INSERT ... ON CONFLICT DO NOTHING``, which SQLite has had since 3.24) and runs unchanged on
PostgreSQL. Where the two differ, outside the DDL:

- placeholders: ``?`` here (``sqlite3``), ``%s`` with psycopg;
- the connection pragmas in :meth:`RunLedger._connect` (WAL, busy timeout) are SQLite's; and
  ``REAL`` is a 4-byte float on PostgreSQL (6 significant digits: plenty for milliseconds and
  confidences; ``DOUBLE PRECISION`` works on both if more is ever needed). ``record_json`` could
  be ``JSONB`` there.

Times are stored as ISO 8601 text in UTC with a fixed width (``2025-01-31T09:05:00.000000Z``), so
that comparing the text compares the times, on both databases.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from handrail.contracts import RunRecord, StepRecord
from handrail.settings import HandrailSettings

SCHEMA_VERSION: Final = 1
LEDGER_FILE: Final = "ledger.db"

Outcome = Literal[
    "success", "approved", "failure", "denied", "rejected", "escalated", "compensated", "skipped"
]
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "success",  # ran on its own (or answered) and its effect stood
    "approved",  # ran after a reviewer approved or edited it, and its effect stood
    "failure",  # the tool said no (ok=False), or the model's reply was invalid
    "denied",  # the policy refused it
    "rejected",  # a reviewer rejected it (the task rolled back)
    "escalated",  # the model escalated, or no reviewer decided before the last deadline
    "compensated",  # ran, then undone when the task rolled back
    "skipped",  # never ran: a deferred action rolled back, a reviewer answered instead
)
# Pseudo action types for decisions that are not tool calls.
NON_TOOL_ACTIONS: Final = ("final_answer", "escalate", "invalid")
DECIDE_KIND: Final = "decide"  # the step kind of the model call, beside each tool's own

_DDL: Final[tuple[str, ...]] = (
    """CREATE TABLE IF NOT EXISTS ledger_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        task_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        profile TEXT NOT NULL,
        model TEXT NOT NULL,
        status TEXT NOT NULL,
        goal TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        duration_ms REAL NOT NULL,
        steps INTEGER NOT NULL,
        tokens_in INTEGER NOT NULL,
        tokens_out INTEGER NOT NULL,
        reviews INTEGER NOT NULL,
        needed_review INTEGER NOT NULL,
        escalated INTEGER NOT NULL,
        compensations INTEGER NOT NULL,
        recorded_at TEXT NOT NULL,
        record_json TEXT NOT NULL,
        PRIMARY KEY (task_id, run_id)
    )""",
    """CREATE TABLE IF NOT EXISTS run_steps (
        task_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        step INTEGER NOT NULL,
        profile TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        confidence REAL,
        tokens_in INTEGER NOT NULL,
        tokens_out INTEGER NOT NULL,
        decide_ms REAL NOT NULL,
        tool_ms REAL,
        ok INTEGER,
        gate TEXT,
        verdict TEXT,
        reviewer TEXT,
        review_tier TEXT,
        review_wait_s REAL,
        reviewed_at TEXT,
        tier_escalations INTEGER NOT NULL,
        deferred INTEGER NOT NULL,
        compensated INTEGER NOT NULL,
        PRIMARY KEY (task_id, run_id, step),
        FOREIGN KEY (task_id, run_id) REFERENCES runs (task_id, run_id)
    )""",
    # What stats filter and group by.
    "CREATE INDEX IF NOT EXISTS runs_by_finished ON runs (finished_at)",
    "CREATE INDEX IF NOT EXISTS runs_by_profile ON runs (profile, finished_at)",
    "CREATE INDEX IF NOT EXISTS steps_by_action ON run_steps (action, outcome)",
    "CREATE INDEX IF NOT EXISTS steps_by_finished ON run_steps (finished_at)",
    "CREATE INDEX IF NOT EXISTS steps_by_review ON run_steps (profile, action, reviewed_at)",
)

_RUN_COLUMNS: Final = (
    "task_id",
    "run_id",
    "profile",
    "model",
    "status",
    "goal",
    "started_at",
    "finished_at",
    "duration_ms",
    "steps",
    "tokens_in",
    "tokens_out",
    "reviews",
    "needed_review",
    "escalated",
    "compensations",
    "recorded_at",
    "record_json",
)
_STEP_COLUMNS: Final = (
    "task_id",
    "run_id",
    "step",
    "profile",
    "finished_at",
    "kind",
    "action",
    "outcome",
    "confidence",
    "tokens_in",
    "tokens_out",
    "decide_ms",
    "tool_ms",
    "ok",
    "gate",
    "verdict",
    "reviewer",
    "review_tier",
    "review_wait_s",
    "reviewed_at",
    "tier_escalations",
    "deferred",
    "compensated",
)


def _insert(table: str, columns: Sequence[str], *, conflict: str = "") -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){conflict}"


# The shared upsert: "ON CONFLICT DO NOTHING" is the same on SQLite and PostgreSQL.
_INSERT_RUN: Final = _insert(
    "runs", _RUN_COLUMNS, conflict=" ON CONFLICT (task_id, run_id) DO NOTHING"
)
_INSERT_STEP: Final = _insert("run_steps", _STEP_COLUMNS)


def ledger_path(settings: HandrailSettings) -> Path:
    """Where the ledger lives: ``<data_dir>/ledger.db``."""
    return settings.data_dir / LEDGER_FILE


def as_utc_text(moment: datetime) -> str:
    """A time as the ledger stores it: UTC, fixed width, so text order is time order. A naive
    time is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def action_of(step: StepRecord) -> str:
    """A step's action type: the tool's name, or the decision kind for non-tool decisions."""
    decision = step.decision
    if decision.kind == "tool_call" and decision.tool:
        return decision.tool
    return decision.kind


def step_outcome(step: StepRecord, record: RunRecord, compensated: bool) -> Outcome:
    """The one outcome category of a step (the first that applies, in this order)."""
    decision = step.decision
    if decision.kind == "final_answer":
        return "success"
    if decision.kind == "escalate":
        return "escalated"
    if decision.kind != "tool_call":
        return "failure"  # invalid: the model's reply could not be used
    gate, review = step.gate, step.review
    if gate is not None and gate.action == "deny":
        return "denied"
    if review is not None and review.verdict == "reject":
        return "rejected"
    if gate is not None and gate.action == "review" and review is None:
        expired = bool(step.escalations) or record.status == "review_expired"
        return "escalated" if expired else "skipped"
    if step.outcome is None:
        return "skipped"  # a reviewer answered instead, or a deferred action never ran
    if not step.outcome.ok:
        return "failure"
    if compensated:
        return "compensated"
    return "approved" if review is not None else "success"


def _run_model(record: RunRecord) -> str:
    if record.model:
        return record.model
    return next((s.decision.model for s in record.steps if s.decision.model), "")


def _run_row(record: RunRecord, recorded_at: str) -> tuple[Any, ...]:
    steps = record.steps
    duration = (record.finished_at - record.started_at).total_seconds() * 1000
    needed_review = any(s.gate is not None and s.gate.action == "review" for s in steps)
    escalated = record.status in ("escalated", "review_expired") or any(
        s.escalations for s in steps
    )
    return (
        record.task_id,
        record.run_id,
        record.profile,
        _run_model(record),
        record.status,
        record.goal,
        as_utc_text(record.started_at),
        as_utc_text(record.finished_at),
        max(duration, 0.0),
        len(steps),
        sum(s.decision.tokens_in for s in steps),
        sum(s.decision.tokens_out for s in steps),
        sum(1 for s in steps if s.review is not None),
        int(needed_review),
        int(escalated),
        len(record.compensations),
        recorded_at,
        record.model_dump_json(),
    )


def compensated_steps(record: RunRecord) -> set[int]:
    """Indexes of the steps whose effect ran and was undone when the task rolled back."""
    undone = {c.step for c in record.compensations if c.status in ("undone", "already_undone")}
    return {
        s.index
        for s in record.steps
        if s.outcome is not None and s.outcome.ok and s.index in undone
    }


def _step_rows(record: RunRecord) -> Iterator[tuple[Any, ...]]:
    undone = compensated_steps(record)
    finished_at = as_utc_text(record.finished_at)
    for step in record.steps:
        decision, outcome, review = step.decision, step.outcome, step.review
        compensated = step.index in undone
        yield (
            record.task_id,
            record.run_id,
            step.index + 1,
            record.profile,
            finished_at,
            decision.kind,
            action_of(step),
            step_outcome(step, record, compensated),
            decision.confidence,
            decision.tokens_in,
            decision.tokens_out,
            decision.latency_ms,
            outcome.latency_ms if outcome is not None else None,
            None if outcome is None else int(outcome.ok),
            step.gate.action if step.gate is not None else None,
            review.verdict if review is not None else None,
            review.reviewer if review is not None else None,
            review.tier if review is not None else None,
            review.wait_seconds if review is not None else None,
            as_utc_text(review.decided_at) if review is not None else None,
            len(step.escalations),
            int(step.deferred),
            int(compensated),
        )


@dataclass
class LedgerAggregates:
    """What ``stats`` needs, aggregated by SQL where SQL helps (``handrail.stats`` turns it
    into a report). Latencies come back as lists: percentiles are not portable SQL."""

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
            for statement in _DDL:
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
                    cursor = db.execute(_INSERT_RUN, _run_row(record, recorded_at))
                    if cursor.rowcount != 1:
                        continue  # already there: its steps are too
                    db.executemany(_INSERT_STEP, _step_rows(record))
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
