"""``starter.py stats``: what the ledger says about how tasks went, as a :class:`StatsReport`.

Computed from the ledger's rows (``handrail.storage.ledger``; SQL does the counting and
grouping), never by replaying workflows:

- **outcomes by action type** (a tool, or ``final_answer`` / ``escalate`` / ``invalid``): each
  step's one category (``handrail.contracts.outcomes``), with success rate = (success + approved) /
  steps and failure rate = failure / steps;
- **latency per step kind**: ``decide`` (the model call) and each tool, p50 and p95 in ms, by
  linear interpolation between the closest ranks (numpy's default;
  ``handrail.reports.measures.percentiles``);
- **tokens and estimated cost per task**: tokens in and out per task, and a cost from
  ``handrail.reports.prices`` (estimates of list prices; a model not in the table is counted
  as unpriced, never as free);
- **escalation rate**: tasks that needed a reviewer or escalated (the model escalated, or a
  review tier's deadline passed), over all tasks;
- **the commit point**: tasks that ended ``commit_failed`` over tasks that ran a commit, and
  per tool the deferred actions that ran there, failed, or never ran
  (``handrail.storage.commit_point``);
- **reviewer agreement per tool** (and profile): approved unchanged, edited, rejected, answered
  instead (see ``handrail.trust.autonomy`` for why an answer counts against agreement);
- **autonomy**: an assessment per tool of each profile under evaluation (``stats`` assesses
  every profile the ledger holds, or the one it is asked for: ``handrail.trust.autonomy``);
- **shadow rules**: per tool, what its shadow rule would have let through or stopped, and how
  many of those reviewers judged bad (``handrail.trust.shadow``);
- **calibration**: per tool, the lowest ``min_confidence`` whose reviewed actions' error rate
  has a one-sided 95% upper bound under the profile's ``target_error_rate``, for the stated
  confidence and, where recorded, the token log-probabilities (``handrail.trust.calibration``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, computed_field

from handrail.profiles.catalog import AutonomyBar, ProfileFile
from handrail.reports.measures import (
    ActionOutcomes,
    CostSummary,
    Escalation,
    Latency,
    ToolAgreement,
    action_outcomes,
    agreement_per_tool,
    cost_summary,
    latency_per_kind,
    ratio,
)
from handrail.reports.prices import DEFAULT_PRICES, Price
from handrail.storage.autonomy_log import AutonomyLog
from handrail.storage.commit_point import CommitReport, commit_report
from handrail.storage.ledger import LedgerAggregates, RunLedger
from handrail.trust.autonomy import AUDIT_LOG_FILE, Assessment, assess_profile
from handrail.trust.calibration import Calibration, calibrate_all
from handrail.trust.shadow import Evidence, ShadowTool, read_evidence
from handrail.trust.tool_facts import ToolFacts


class StatsReport(BaseModel):
    generated_at: datetime
    ledger: str = ""
    since: datetime | None = None
    tasks: int = 0
    first_finished: str | None = None
    last_finished: str | None = None
    statuses: dict[str, int] = Field(default_factory=dict)
    answered_rate: float = Field(default=0.0, description="Tasks answered / tasks.")
    actions: list[ActionOutcomes] = Field(default_factory=list)
    latency: list[Latency] = Field(default_factory=list)
    cost: CostSummary = Field(default_factory=CostSummary)
    escalation: Escalation = Field(default_factory=Escalation)
    commit: CommitReport = Field(default_factory=CommitReport)
    agreement: list[ToolAgreement] = Field(default_factory=list)
    profile: str | None = Field(
        default=None, description="The profile autonomy is assessed for, when it is one."
    )
    bar: AutonomyBar | None = Field(default=None, description="That profile's bar.")
    bars: dict[str, AutonomyBar] = Field(
        default_factory=dict, description="Each assessed profile's bar, in the order assessed."
    )
    autonomy: list[Assessment] = Field(
        default_factory=list, description="Every assessed profile's tools (each names its own)."
    )
    shadow: list[ShadowTool] = Field(default_factory=list)
    target_error_rate: float = Field(
        default=AutonomyBar().target_error_rate,
        description="The calibration target: the assessed profiles' strictest, or the default "
        "without one.",
    )
    calibration: list[Calibration] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recommendations(self) -> list[Assessment]:
        """The assessments that recommend a change (promote or demote)."""
        return [a for a in self.autonomy if a.actionable]


def build_report(
    rows: LedgerAggregates,
    *,
    prices: Mapping[str, Price] = DEFAULT_PRICES,
    profile: ProfileFile | None = None,
    autonomy: Sequence[Assessment] = (),
    since: datetime | None = None,
    ledger: str = "",
    now: datetime | None = None,
    evidence: Evidence | None = None,
    profiles: Sequence[ProfileFile] = (),
) -> StatsReport:
    """The report for aggregated ledger rows and the records' ``evidence`` (pure: no I/O).
    ``autonomy`` assesses ``profile``, or each of ``profiles``."""
    statuses = {status: count for status, count in rows.statuses}
    evidence = evidence or Evidence()
    assessed = [profile] if profile is not None else list(profiles)
    bars = {file.name: file.autonomy for file in assessed}
    # One target for the calibration table: with several profiles, the strictest of theirs.
    target = min((bar.target_error_rate for bar in bars.values()), default=None)
    target = AutonomyBar().target_error_rate if target is None else target
    only = assessed[0] if len(assessed) == 1 else None
    return StatsReport(
        generated_at=now or datetime.now(UTC),
        ledger=ledger,
        since=since,
        tasks=rows.tasks,
        first_finished=rows.first_finished,
        last_finished=rows.last_finished,
        statuses=statuses,
        answered_rate=ratio(statuses.get("answered", 0), rows.tasks),
        actions=action_outcomes(rows.outcomes),
        latency=latency_per_kind(rows.latencies_ms),
        cost=cost_summary(rows.task_tokens, prices),
        escalation=Escalation(
            tasks=rows.tasks,
            needed_review=rows.needed_review,
            escalated=rows.escalated,
            review_or_escalated=rows.review_or_escalated,
            rate=ratio(rows.review_or_escalated, rows.tasks),
        ),
        commit=commit_report(
            statuses.get("commit_failed", 0), rows.commit_runs, rows.commit_actions
        ),
        agreement=agreement_per_tool(rows.verdicts, rows.review_waits),
        profile=only.name if only is not None else None,
        bar=only.autonomy if only is not None else None,
        bars=bars,
        autonomy=list(autonomy),
        shadow=evidence.shadow,
        target_error_rate=target,
        calibration=calibrate_all(evidence.reviewed, target=target),
    )


def compute_stats(
    ledger: RunLedger,
    *,
    since: datetime | None = None,
    prices: Mapping[str, Price] | None = None,
    profile: ProfileFile | None = None,
    log: AutonomyLog | None = None,
    log_path: Path | None = None,
    tools: ToolFacts | None = None,
    profiles: Sequence[ProfileFile] = (),
) -> StatsReport:
    """Read the ledger and build the report; with a ``profile`` (or several ``profiles``),
    assess each of its tools for promotion or demotion (changes recorded in the audit ``log``
    restart a tool's count;
    ``tools`` says which tools only read: ``handrail.trust.tool_facts``). Without a ``log``,
    the audit log is the ledger's state database's, importing the old file ``log_path``
    (default: ``autonomy_log.jsonl`` beside the ledger's SQLite file) if it is there.

    ``since`` narrows the report, not the autonomy evidence, which is always the newest reviews
    since each tool's last change (``handrail.trust.autonomy``)."""
    rows = ledger.aggregates(since=since)
    assessed = [profile] if profile is not None else list(profiles)
    autonomy: list[Assessment] = []
    if assessed and log is None:
        old = log_path if log_path is not None else ledger.path.parent / AUDIT_LOG_FILE
        log = AutonomyLog(ledger.database, legacy_file=old)
    for file in assessed:
        assert log is not None
        autonomy += assess_profile(ledger, file, log, tools=tools)
    return build_report(
        rows,
        prices=DEFAULT_PRICES if prices is None else prices,
        profiles=assessed,
        autonomy=autonomy,
        since=since,
        ledger=str(ledger.path),
        evidence=read_evidence(ledger, since=since),
    )
