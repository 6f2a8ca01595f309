"""What ``stats`` measures, part by part: each a model and the function that computes it from the
ledger's aggregated rows (``handrail.storage.ledger.LedgerAggregates``), pure.

Percentiles are ``statistics.quantiles``' (:func:`percentiles`): linear interpolation between the
closest ranks, numpy's default, as the report says.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from handrail.contracts.outcomes import OUTCOMES
from handrail.reports.prices import Price, price_of
from handrail.trust.evidence import Agreement


def percentiles(values: Iterable[float], *qs: float) -> tuple[float, ...]:
    """The ``qs``-th percentiles of ``values`` (whole numbers from 1 to 99), from one sort.

    ``statistics.quantiles`` with ``method="inclusive"``: linear interpolation between the
    closest ranks, numpy's default (R's type 7), which the report documents. ``nan`` for no
    values; the value itself for one (``quantiles`` wants two)."""
    if any(q != int(q) or not 1 <= q <= 99 for q in qs):
        raise ValueError(f"percentiles are whole numbers from 1 to 99, not {qs}")
    data = list(values)
    if len(data) < 2:
        return tuple(data[0] if data else math.nan for _ in qs)
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    return tuple(cuts[int(q) - 1] for q in qs)


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (see :func:`percentiles`)."""
    return percentiles(values, q)[0]


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


def ratio(part: float, whole: float) -> float:
    """``part / whole``; 0 for an empty whole (nothing happened: no rate to show)."""
    return part / whole if whole else 0.0


def action_outcomes(rows: Sequence[tuple[str, str, int]]) -> list[ActionOutcomes]:
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
                success_rate=ratio(per["success"] + per["approved"], steps),
                failure_rate=ratio(per["failure"], steps),
            )
        )
    return sorted(found, key=lambda row: (-row.steps, row.action))


def latency_per_kind(latencies: Mapping[str, list[float]]) -> list[Latency]:
    found = []
    for kind, values in latencies.items():
        p50, p95 = percentiles(values, 50, 95)
        found.append(
            Latency(kind=kind, count=len(values), p50_ms=p50, p95_ms=p95, max_ms=max(values))
        )
    return found


def cost_summary(rows: Sequence[tuple[str, int, int]], prices: Mapping[str, Price]) -> CostSummary:
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
    tokens_p50, tokens_p95 = percentiles(totals, 50, 95)
    return CostSummary(
        tasks=tasks,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        tokens_in_per_task=tokens_in / tasks,
        tokens_out_per_task=tokens_out / tasks,
        tokens_per_task_p50=tokens_p50,
        tokens_per_task_p95=tokens_p95,
        cost_usd=sum(costs),
        cost_per_task_usd=sum(costs) / len(costs) if costs else None,
        cost_per_task_p95_usd=percentile(costs, 95) if costs else None,
        unpriced_tasks=tasks - len(costs),
        by_model=sorted(models.values(), key=lambda u: (-u.tasks, u.model)),
    )


def agreement_per_tool(
    rows: Sequence[tuple[str, str, str, int]], waits: Mapping[tuple[str, str], list[float]]
) -> list[ToolAgreement]:
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for profile, tool, verdict, count in rows:
        counts.setdefault((profile, tool), {})[verdict] = count
    found = []
    for (profile, tool), per in sorted(counts.items()):
        decided = [w for w in waits.get((profile, tool), []) if w is not None]
        wait_p50, wait_p95 = percentiles(decided, 50, 95) if decided else (None, None)
        found.append(
            ToolAgreement(
                profile=profile,
                tool=tool,
                verdicts=Agreement.of_counts(per),
                wait_p50_s=wait_p50,
                wait_p95_s=wait_p95,
            )
        )
    return found
