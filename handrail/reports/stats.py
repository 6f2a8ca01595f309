"""``starter.py stats``: what the ledger says about how tasks went, as a :class:`StatsReport`.

Computed from the ledger's rows (``handrail.reports.ledger``; SQL does the counting and
grouping), never by replaying workflows:

- **outcomes by action type** (a tool, or ``final_answer`` / ``escalate`` / ``invalid``): each
  step's one category (``handrail.reports.outcomes``), with success rate = (success + approved) /
  steps and failure rate = failure / steps;
- **latency per step kind**: ``decide`` (the model call) and each tool, p50 and p95 in ms, by
  linear interpolation between the closest ranks (numpy's default);
- **tokens and estimated cost per task**: tokens in and out per task, and a cost from
  ``handrail.reports.prices`` (estimates of list prices; a model not in the table is counted
  as unpriced, never as free);
- **escalation rate**: tasks that needed a reviewer or escalated (the model escalated, or a
  review tier's deadline passed), over all tasks;
- **the commit point**: tasks that ended ``commit_failed`` over tasks that ran a commit, and
  per tool the deferred actions that ran there, failed, or never ran
  (``handrail.reports.commit_point``);
- **reviewer agreement per tool** (and profile): approved unchanged, edited, rejected, answered
  instead (see ``handrail.reports.autonomy`` for why an answer counts against agreement);
- **autonomy**: an assessment per tool of each profile under evaluation (``stats`` assesses
  every profile the ledger holds, or the one it is asked for: ``handrail.reports.autonomy``);
- **shadow rules**: per tool, what its shadow rule would have let through or stopped, and how
  many of those reviewers judged bad (``handrail.reports.shadow``);
- **calibration**: per tool, the lowest ``min_confidence`` whose reviewed actions' error rate
  has a one-sided 95% upper bound under the profile's ``target_error_rate``, for the stated
  confidence and, where recorded, the token log-probabilities (``handrail.reports.calibration``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, computed_field

from handrail.profile_catalog import AutonomyBar, ProfileFile
from handrail.reports.autonomy import AUDIT_LOG_FILE, Assessment, assess_profile
from handrail.reports.calibration import Calibration, calibrate_all
from handrail.reports.commit_point import CommitReport, commit_report
from handrail.reports.evidence import Agreement
from handrail.reports.ledger import LedgerAggregates, RunLedger
from handrail.reports.outcomes import OUTCOMES
from handrail.reports.prices import DEFAULT_PRICES, Price, price_of
from handrail.reports.shadow import Evidence, ShadowTool, read_evidence
from handrail.reports.tool_facts import ToolFacts
from handrail.storage.autonomy_log import AutonomyLog


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, interpolating linearly."""
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class ActionOutcomes(BaseModel):
    """How the steps of one action type ended."""

    action: str
    steps: int
    counts: dict[str, int] = Field(description="Steps per outcome category, every category.")
    success_rate: float = Field(description="(success + approved) / steps")
    failure_rate: float = Field(description="failure / steps")


class Latency(BaseModel):
    kind: str = Field(description="`decide` (the model call) or a tool's name.")
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float


class ModelUsage(BaseModel):
    model: str
    tasks: int
    tokens_in: int
    tokens_out: int
    price: Price | None = Field(default=None, description="None: not in the price table.")
    cost_usd: float | None = None


class CostSummary(BaseModel):
    """Tokens and estimated cost per task (estimates: see ``handrail.reports.prices``)."""

    tasks: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_in_per_task: float = 0.0
    tokens_out_per_task: float = 0.0
    tokens_per_task_p50: float = 0.0
    tokens_per_task_p95: float = 0.0
    cost_usd: float = Field(default=0.0, description="Estimated, priced tasks only.")
    cost_per_task_usd: float | None = Field(default=None, description="Mean over priced tasks.")
    cost_per_task_p95_usd: float | None = None
    unpriced_tasks: int = 0
    by_model: list[ModelUsage] = Field(default_factory=list)


class Escalation(BaseModel):
    tasks: int = 0
    needed_review: int = Field(default=0, description="Tasks with a step sent to a reviewer.")
    escalated: int = Field(
        default=0, description="Tasks the model escalated, or where a review deadline passed."
    )
    review_or_escalated: int = 0
    rate: float = Field(default=0.0, description="review_or_escalated / tasks")


class ToolAgreement(BaseModel):
    profile: str
    tool: str
    verdicts: Agreement
    wait_p50_s: float | None = Field(default=None, description="Time to a reviewer's decision.")
    wait_p95_s: float | None = None


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


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _actions(rows: Sequence[tuple[str, str, int]]) -> list[ActionOutcomes]:
    counts: dict[str, dict[str, int]] = {}
    for action, outcome, count in rows:
        per = counts.setdefault(action, dict.fromkeys(OUTCOMES, 0))
        per[outcome] = per.get(outcome, 0) + count
    found = []
    for action, per in counts.items():
        steps = sum(per.values())
        found.append(
            ActionOutcomes(
                action=action,
                steps=steps,
                counts=per,
                success_rate=_ratio(per["success"] + per["approved"], steps),
                failure_rate=_ratio(per["failure"], steps),
            )
        )
    return sorted(found, key=lambda row: (-row.steps, row.action))


def _latency(latencies: Mapping[str, list[float]]) -> list[Latency]:
    found = []
    for kind, values in latencies.items():
        ordered = sorted(values)
        found.append(
            Latency(
                kind=kind,
                count=len(ordered),
                p50_ms=percentile(ordered, 50),
                p95_ms=percentile(ordered, 95),
                max_ms=ordered[-1],
            )
        )
    return found


def _cost(rows: Sequence[tuple[str, int, int]], prices: Mapping[str, Price]) -> CostSummary:
    if not rows:
        return CostSummary()
    models: dict[str, ModelUsage] = {}
    costs: list[float] = []
    totals: list[int] = []
    for model, tokens_in, tokens_out in rows:
        usage = models.get(model)
        if usage is None:
            usage = models[model] = ModelUsage(
                model=model, tasks=0, tokens_in=0, tokens_out=0, price=price_of(model, prices)
            )
        usage.tasks += 1
        usage.tokens_in += tokens_in
        usage.tokens_out += tokens_out
        totals.append(tokens_in + tokens_out)
        if usage.price is not None:
            costs.append((tokens_in * usage.price.input + tokens_out * usage.price.output) / 1e6)
    for usage in models.values():
        if usage.price is not None:
            usage.cost_usd = (
                usage.tokens_in * usage.price.input + usage.tokens_out * usage.price.output
            ) / 1e6
    tasks = len(rows)
    tokens_in = sum(u.tokens_in for u in models.values())
    tokens_out = sum(u.tokens_out for u in models.values())
    totals.sort()
    costs.sort()
    return CostSummary(
        tasks=tasks,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        tokens_in_per_task=tokens_in / tasks,
        tokens_out_per_task=tokens_out / tasks,
        tokens_per_task_p50=percentile(totals, 50),
        tokens_per_task_p95=percentile(totals, 95),
        cost_usd=sum(costs),
        cost_per_task_usd=sum(costs) / len(costs) if costs else None,
        cost_per_task_p95_usd=percentile(costs, 95) if costs else None,
        unpriced_tasks=tasks - len(costs),
        by_model=sorted(models.values(), key=lambda u: (-u.tasks, u.model)),
    )


def _agreement(
    rows: Sequence[tuple[str, str, str, int]], waits: Mapping[tuple[str, str], list[float]]
) -> list[ToolAgreement]:
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for profile, tool, verdict, count in rows:
        counts.setdefault((profile, tool), {})[verdict] = count
    found = []
    for (profile, tool), per in sorted(counts.items()):
        ordered = sorted(w for w in waits.get((profile, tool), []) if w is not None)
        found.append(
            ToolAgreement(
                profile=profile,
                tool=tool,
                verdicts=Agreement.of_counts(per),
                wait_p50_s=percentile(ordered, 50) if ordered else None,
                wait_p95_s=percentile(ordered, 95) if ordered else None,
            )
        )
    return found


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
        answered_rate=_ratio(statuses.get("answered", 0), rows.tasks),
        actions=_actions(rows.outcomes),
        latency=_latency(rows.latencies_ms),
        cost=_cost(rows.task_tokens, prices),
        escalation=Escalation(
            tasks=rows.tasks,
            needed_review=rows.needed_review,
            escalated=rows.escalated,
            review_or_escalated=rows.review_or_escalated,
            rate=_ratio(rows.review_or_escalated, rows.tasks),
        ),
        commit=commit_report(
            statuses.get("commit_failed", 0), rows.commit_runs, rows.commit_actions
        ),
        agreement=_agreement(rows.verdicts, rows.review_waits),
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
    ``tools`` says which tools only read: ``handrail.reports.tool_facts``). Without a ``log``,
    the audit log is the ledger's state database's, importing the old file ``log_path``
    (default: ``autonomy_log.jsonl`` beside the ledger's SQLite file) if it is there.

    ``since`` narrows the report, not the autonomy evidence, which is always the newest reviews
    since each tool's last change (``handrail.reports.autonomy``)."""
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
