"""The ``stats`` report's :class:`~handrail.reports.view.StatsView`: :func:`build_view`, with the
sections on tasks (statuses, outcomes, latency, cost, escalation, the commit point) and the
page's cards; the sections on trust are ``handrail.reports.trust_sections``'."""

from __future__ import annotations

from handrail.contracts.outcomes import OUTCOMES
from handrail.reports.formats import NONE, ms, pct, usd, when
from handrail.reports.stats import StatsReport
from handrail.reports.trust_sections import (
    agreement_section,
    autonomy_section,
    calibration_section,
    shadow_section,
)
from handrail.reports.view import NO_TASKS, Card, Section, StatsView, table


def _statuses(report: StatsReport) -> Section:
    by_count = sorted(report.statuses.items(), key=lambda kv: -kv[1])
    shares = " · ".join(f"{s} {n:,} ({n / report.tasks:.1%})" for s, n in by_count)
    return Section("statuses", "Tasks by status", (shares,))


def _outcomes(report: StatsReport) -> Section:
    rows = [
        [row.action, f"{row.steps:,}", pct(row.success_rate), pct(row.failure_rate)]
        + [f"{row.counts.get(o, 0):,}" for o in OUTCOMES]
        for row in report.actions
    ]
    return Section(
        "outcomes",
        "Outcomes by action type (steps)",
        table=table(["action", "steps", "success %", "failure %", *OUTCOMES], rows),
        notes=("success % = (success + approved) / steps",),
    )


def _latency(report: StatsReport) -> Section:
    rows = [
        [row.kind, f"{row.count:,}", ms(row.p50_ms), ms(row.p95_ms), ms(row.max_ms)]
        for row in report.latency
    ]
    return Section(
        "latency",
        "Latency per step kind (ms)",
        table=table(["kind", "count", "p50", "p95", "max"], rows),
    )


def _cost(report: StatsReport) -> Section:
    cost = report.cost
    unpriced = f"; {cost.unpriced_tasks} task(s) unpriced" if cost.unpriced_tasks else ""
    rows = [
        [
            usage.model or "(unknown)",
            f"{usage.tasks:,}",
            f"{usage.tokens_in:,}",
            f"{usage.tokens_out:,}",
            f"{usage.price.input:g}" if usage.price else "?",
            f"{usage.price.output:g}" if usage.price else "?",
            usd(usage.cost_usd),
        ]
        for usage in cost.by_model
    ]
    headers = ["model", "tasks", "tokens in", "tokens out", "$/M in", "$/M out", "est. cost"]
    return Section(
        "cost",
        "Tokens and estimated cost per task",
        (
            f"tokens per task: {cost.tokens_in_per_task:,.0f} in + "
            f"{cost.tokens_out_per_task:,.0f} out on average (in + out: p50 "
            f"{cost.tokens_per_task_p50:,.0f}, p95 {cost.tokens_per_task_p95:,.0f})",
            f"estimated cost: {usd(cost.cost_per_task_usd)} per task "
            f"(p95 {usd(cost.cost_per_task_p95_usd)}), {usd(cost.cost_usd)} in all{unpriced}",
        ),
        table(headers, rows),
        notes=(
            "prices are estimates from public list prices, without discounts or caching "
            "(override: stats(prices=...))",
        ),
    )


def _escalation(report: StatsReport) -> Section:
    esc = report.escalation
    found = (
        f"{esc.review_or_escalated:,} of {esc.tasks:,} tasks needed a reviewer or escalated "
        f"({pct(esc.rate)}): {esc.needed_review:,} needed review, {esc.escalated:,} escalated"
    )
    return Section("escalation", "Escalation", (found,))


def _commit(report: StatsReport) -> Section:
    """The commit point: tasks that failed it, and per tool its deferred actions there."""
    commit = report.commit
    found = (
        f"{commit.tasks_failed:,} of {commit.tasks_committing:,} tasks that ran a commit point "
        f"failed it ({pct(commit.rate)}); their answers were not delivered"
    )
    rows = [
        [row.tool, f"{row.ran:,}", f"{row.failed:,}", pct(row.failure_rate), f"{row.never_ran:,}"]
        for row in commit.by_tool
    ]
    headers = ["tool", "ran at commit", "failed", "failure %", "never ran"]
    return Section("commit", "The commit point", (found,), table(headers, rows) if rows else None)


def _cards(report: StatsReport, span: str) -> tuple[Card, ...]:
    cost, esc = report.cost, report.escalation
    tokens_in, tokens_out = cost.tokens_in_per_task, cost.tokens_out_per_task
    return (
        Card("tasks", f"{report.tasks:,}", span),
        Card("answered", pct(report.answered_rate) if report.tasks else NONE),
        Card(
            "needed review or escalated",
            pct(esc.rate) if report.tasks else NONE,
            f"{esc.review_or_escalated:,} tasks",
        ),
        Card(
            "tokens per task",
            f"{tokens_in + tokens_out:,.0f}",
            f"{tokens_in:,.0f} in · {tokens_out:,.0f} out",
        ),
        Card("est. cost per task", usd(cost.cost_per_task_usd), "list-price estimate"),
    )


def build_view(report: StatsReport) -> StatsView:
    """The report's sections, in the order both renderings show them."""
    span = ""
    if report.tasks:
        span = f"finished {when(report.first_finished)} … {when(report.last_finished)}"
    since = f" since {report.since.isoformat()}" if report.since else ""
    sections = []
    if report.tasks:
        sections += [_statuses(report), _outcomes(report), _latency(report)]
        sections += [_cost(report), _escalation(report), _commit(report)]
    sections.append(agreement_section(report))
    sections += [autonomy_section(report, profile, bar) for profile, bar in report.bars.items()]
    if report.shadow:
        sections.append(shadow_section(report))
    if report.calibration:
        sections.append(calibration_section(report))
    return StatsView(
        summary=f"{report.tasks:,} task(s){since}" + (f" {span}" if span else ""),
        ledger=report.ledger,
        generated=report.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        cards=_cards(report, span),
        nothing_yet="" if report.tasks else NO_TASKS,
        sections=tuple(sections),
    )
