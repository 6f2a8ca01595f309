"""The run ledger's reads that the trust engine (``handrail.trust``) computes on.

Storage reads, the trust engine decides: each query here returns rows as the ledger holds them,
and what they prove is said where they are used.

- for earned autonomy (``handrail.trust.autonomy``): a tool's newest review verdicts and its
  newest gated actions since its last change;
- for tool facts (``handrail.trust.tool_facts``): per tool, whether its recorded steps were
  ever deferred, undone, or left standing in a rolled-back run; and every (profile, action)
  recorded;
- for shadow rules and calibration (``handrail.trust.shadow``): the records that hold a shadow
  verdict or a log-probability, and every reviewed action's stated confidence and verdict.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import and_, case, func, or_, select

from handrail.contracts import RunRecord
from handrail.storage.ledger import RunLedger
from handrail.storage.ledger_rows import as_utc_text
from handrail.storage.schema import run_steps, runs

REVIEWABLE_KINDS: Final = ("tool_call", "final_answer")
"""The decisions a reviewer can be asked about (the others never reach the gate's review)."""


def recent_verdicts(
    ledger: RunLedger, profile: str, tool: str, *, after: datetime | None, limit: int | None
) -> list[str]:
    """The verdicts reviewers gave ``tool`` in ``profile``'s runs, newest first: those
    decided after ``after`` (e.g. the tool's last autonomy change), at most ``limit``."""
    s = run_steps.c
    query = select(s.verdict).where(s.profile == profile, s.action == tool, s.verdict.is_not(None))
    if after is not None:
        query = query.where(s.reviewed_at > as_utc_text(after))
    query = query.order_by(s.reviewed_at.desc(), s.task_id, s.step)
    if limit is not None:
        query = query.limit(limit)
    with ledger.connect() as db:
        return [verdict for (verdict,) in db.execute(query)]


def recent_actions(
    ledger: RunLedger, profile: str, tool: str, *, after: datetime | None, limit: int
) -> list[tuple[str | None, str | None]]:
    """The newest ``limit`` gated actions of ``tool`` in ``profile``'s runs finished after
    ``after``, newest first, as (gate action, review verdict): reviewed or not."""
    s = run_steps.c
    query = select(s.gate, s.verdict).where(
        s.profile == profile, s.action == tool, s.gate.is_not(None)
    )
    if after is not None:
        query = query.where(s.finished_at > as_utc_text(after))
    query = query.order_by(s.finished_at.desc(), s.task_id.desc(), s.step).limit(limit)
    with ledger.connect() as db:
        return [(gate, verdict) for gate, verdict in db.execute(query)]


def tool_evidence(
    ledger: RunLedger, rolled_back: Sequence[str]
) -> list[tuple[str, bool, bool, bool]]:
    """Per tool the runs called: (tool, ever deferred, ever undone, ever ran, succeeded and
    stayed in a run whose status is one of ``rolled_back``)."""
    s, r = run_steps.c, runs.c
    stayed = and_(r.status.in_(list(rolled_back)), s.ok == 1, s.deferred == 0, s.compensated == 0)
    query = (
        select(
            s.action,
            func.max(s.deferred),
            func.max(s.compensated),
            func.max(case((stayed, 1), else_=0)),
        )
        .select_from(run_steps.join(runs, and_(r.task_id == s.task_id, r.run_id == s.run_id)))
        .where(s.kind == "tool_call")
        .group_by(s.action)
        .order_by(s.action)
    )
    with ledger.connect() as db:
        rows = db.execute(query).all()
    return [(tool, bool(d), bool(c), bool(ran)) for tool, d, c, ran in rows]


def recorded_actions(ledger: RunLedger) -> list[tuple[str, str]]:
    """Every (profile, action) the recorded runs hold: the tools runs actually called."""
    columns = (run_steps.c.profile, run_steps.c.action)
    query = select(*columns).distinct().order_by(*columns)
    with ledger.connect() as db:
        return [(profile, action) for profile, action in db.execute(query)]


def shadow_and_logprob_records(
    ledger: RunLedger, *, since: datetime | None = None
) -> Iterator[RunRecord]:
    """Runs (finished since ``since``) whose record holds a shadow verdict or a log-probability:
    the stored JSON is the only place those are. Empty defaults are left out of stored JSON
    (``contracts._base``), so a key's presence is its value's, and a ledger without either
    parses nothing (a ``LIKE``, no column of its own)."""
    json = runs.c.record_json
    query = select(json).where(
        or_(json.like('%"shadow_gate":%'), json.like('%"logprob_confidence":%'))
    )
    if since is not None:
        query = query.where(runs.c.finished_at >= as_utc_text(since))
    with ledger.connect() as db:
        texts = [text for (text,) in db.execute(query)]
    for text in texts:
        yield RunRecord.model_validate_json(text)


def reviewed_confidences(
    ledger: RunLedger, *, since: datetime | None = None
) -> list[tuple[str, str, float | None, str]]:
    """Every reviewed action's (profile, action, stated confidence, verdict), from the step
    rows of runs finished since ``since``."""
    s = run_steps.c
    query = select(s.profile, s.action, s.confidence, s.verdict).where(
        s.verdict.is_not(None), s.kind.in_(REVIEWABLE_KINDS)
    )
    if since is not None:
        query = query.where(s.finished_at >= as_utc_text(since))
    with ledger.connect() as db:
        return [
            (profile, action, confidence, verdict)
            for profile, action, confidence, verdict in db.execute(query)
        ]
