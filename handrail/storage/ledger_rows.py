"""How a :class:`RunRecord` becomes the run ledger's rows.

Two tables (``handrail.storage.schema``: ``runs`` and ``run_steps``, made by the Alembic
migrations in ``handrail/storage/migrations``):

- ``runs``: one row per finished run: profile, model, status, timings, tokens, whether it needed
  a reviewer or escalated, and the whole redacted record as JSON (``record_json``, which export
  reads and from which every other column can be derived again);
- ``run_steps``: one row per step: the action (tool name, or ``final_answer`` / ``escalate`` /
  ``invalid``), its outcome category (``handrail.contracts.outcomes``), latencies, tokens, the
  gate's verdict and the reviewer's. ``profile`` and ``finished_at`` are copied from the run so
  that stats filter and group without a join.

Times are stored as ISO 8601 text in UTC with a fixed width (``2025-01-31T09:05:00.000000Z``), so
that comparing the text compares the times, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from handrail.contracts import RunRecord
from handrail.contracts.outcomes import action_of, compensated_steps, step_outcome

# Column order of the rows below; handrail.storage.schema is the authority on their types.
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
        compensated = step.step in undone
        yield (
            record.task_id,
            record.run_id,
            step.step,
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
