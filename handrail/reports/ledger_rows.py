"""The run ledger's schema, and a :class:`RunRecord` as the rows it is stored in.

Two tables, plus a one-row-per-key ``ledger_meta``:

- ``runs``: one row per finished run: profile, model, status, timings, tokens, whether it needed
  a reviewer or escalated, and the whole redacted record as JSON (``record_json``, which export
  reads and from which every other column can be derived again);
- ``run_steps``: one row per step: the action (tool name, or ``final_answer`` / ``escalate`` /
  ``invalid``), its outcome category (``handrail.reports.outcomes``), latencies, tokens, the
  gate's verdict and the reviewer's. ``profile`` and ``finished_at`` are copied from the run so
  that stats filter and group without a join.

The DDL is plain SQL (``TEXT``, ``INTEGER``, ``REAL``; ``CREATE ... IF NOT EXISTS``;
``INSERT ... ON CONFLICT DO NOTHING``, which SQLite has had since 3.24) and runs unchanged on
PostgreSQL. Where the two differ, outside the DDL:

- placeholders: ``?`` here (``sqlite3``), ``%s`` with psycopg;
- the connection pragmas in ``RunLedger._connect`` (WAL, busy timeout) are SQLite's; and
  ``REAL`` is a 4-byte float on PostgreSQL (6 significant digits: plenty for milliseconds and
  confidences; ``DOUBLE PRECISION`` works on both if more is ever needed). ``record_json`` could
  be ``JSONB`` there.

Times are stored as ISO 8601 text in UTC with a fixed width (``2025-01-31T09:05:00.000000Z``), so
that comparing the text compares the times, on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from handrail.contracts import RunRecord
from handrail.reports.outcomes import action_of, compensated_steps, step_outcome

SCHEMA_VERSION: Final = 1

DDL: Final[tuple[str, ...]] = (
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

# Column order of the rows below; the DDL above is the authority on their types.
RUN_COLUMNS: Final = (
    "task_id", "run_id", "profile", "model", "status", "goal", "started_at", "finished_at",
    "duration_ms", "steps", "tokens_in", "tokens_out", "reviews", "needed_review", "escalated",
    "compensations", "recorded_at", "record_json",
)  # fmt: skip
STEP_COLUMNS: Final = (
    "task_id", "run_id", "step", "profile", "finished_at", "kind", "action", "outcome",
    "confidence", "tokens_in", "tokens_out", "decide_ms", "tool_ms", "ok", "gate", "verdict",
    "reviewer", "review_tier", "review_wait_s", "reviewed_at", "tier_escalations", "deferred",
    "compensated",
)  # fmt: skip


def _insert(table: str, columns: Sequence[str], *, conflict: str = "") -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){conflict}"


# The shared upsert: "ON CONFLICT DO NOTHING" is the same on SQLite and PostgreSQL.
INSERT_RUN: Final = _insert(
    "runs", RUN_COLUMNS, conflict=" ON CONFLICT (task_id, run_id) DO NOTHING"
)
INSERT_STEP: Final = _insert("run_steps", STEP_COLUMNS)


def as_utc_text(moment: datetime) -> str:
    """A time as the ledger stores it: UTC, fixed width, so text order is time order. A naive
    time is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_model(record: RunRecord) -> str:
    """The run's model, or the first one a step names (records from before ``model``)."""
    if record.model:
        return record.model
    return next((s.decision.model for s in record.steps if s.decision.model), "")


def run_row(record: RunRecord, recorded_at: str) -> tuple[Any, ...]:
    """The ``runs`` row of a record, in :data:`RUN_COLUMNS` order."""
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
        run_model(record),
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


def step_rows(record: RunRecord) -> Iterator[tuple[Any, ...]]:
    """The ``run_steps`` rows of a record, in :data:`STEP_COLUMNS` order."""
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
