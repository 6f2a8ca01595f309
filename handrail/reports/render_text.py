"""A :class:`~handrail.reports.stats.StatsReport` for a terminal (a plain-text table) and for
machines (JSON); ``render_html`` draws the page. The cell formats here are shared by both."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from handrail.reports.autonomy import RECENT_REVIEWS, Assessment
from handrail.reports.outcomes import OUTCOMES
from handrail.reports.stats import StatsReport

NONE = "-"  # an empty cell


def pct(value: float | None) -> str:
    return NONE if value is None or math.isnan(value) else f"{value:.1%}"


def ms(value: float) -> str:
    if math.isnan(value):
        return NONE
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def usd(value: float | None) -> str:
    if value is None:
        return NONE
    return f"${value:,.2f}" if value >= 1 else f"${value:.5f}"


def seconds(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value:,.0f} s" if value >= 10 else f"{value:.1f} s"


def when(text: str | None) -> str:
    return (text or "")[:16].replace("T", " ")


def alignment(headers: Sequence[str], align: str | None) -> str:
    """One letter per column, ``l`` or ``r``; by default the first column left, the rest right
    (numbers)."""
    return align or "l" + "r" * (len(headers) - 1)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, align: str | None = None
) -> list[str]:
    """Fixed-width columns, aligned as ``align`` says (see :func:`alignment`)."""
    sides = alignment(headers, align)
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(cells, widths, sides, strict=True)
        ]
        return "  " + "  ".join(parts).rstrip()

    return [line(headers), "  " + "  ".join("-" * w for w in widths), *map(line, rows)]


def advice(assessment: Assessment) -> str:
    if assessment.actionable:
        return f"{assessment.advice.upper()} → {assessment.to}"
    return assessment.advice


def format_table(report: StatsReport) -> str:
    """The report as plain text for a terminal."""
    out: list[str] = []
    span = ""
    if report.tasks:
        span = f" finished {when(report.first_finished)} … {when(report.last_finished)}"
    since = f" since {report.since.isoformat()}" if report.since else ""
    out.append(f"Handrail stats: {report.tasks} task(s){since}{span}")
    out.append(f"  ledger {report.ledger}" if report.ledger else "")
    if not report.tasks:
        out.append("  No finished tasks recorded yet.")
    else:
        statuses = " · ".join(
            f"{status} {count} ({count / report.tasks:.1%})"
            for status, count in sorted(report.statuses.items(), key=lambda kv: -kv[1])
        )
        out += ["", "Tasks by status", f"  {statuses}"]

        out += ["", "Outcomes by action type (steps)"]
        out += _table(
            ["action", "steps", "success%", "failure%", *OUTCOMES],
            [
                [
                    row.action,
                    str(row.steps),
                    pct(row.success_rate),
                    pct(row.failure_rate),
                    *(str(row.counts.get(o, 0)) for o in OUTCOMES),
                ]
                for row in report.actions
            ],
        )
        out += ["  success% = (success + approved) / steps"]

        out += ["", "Latency per step kind (ms)"]
        out += _table(
            ["kind", "count", "p50", "p95", "max"],
            [
                [row.kind, str(row.count), ms(row.p50_ms), ms(row.p95_ms), ms(row.max_ms)]
                for row in report.latency
            ],
        )

        cost = report.cost
        out += [
            "",
            "Tokens and estimated cost per task",
            f"  tokens per task: {cost.tokens_in_per_task:,.0f} in + "
            f"{cost.tokens_out_per_task:,.0f} out on average "
            f"(in + out: p50 {cost.tokens_per_task_p50:,.0f}, p95 {cost.tokens_per_task_p95:,.0f})",
            f"  estimated cost: {usd(cost.cost_per_task_usd)} per task "
            f"(p95 {usd(cost.cost_per_task_p95_usd)}), {usd(cost.cost_usd)} in all"
            + (f"; {cost.unpriced_tasks} task(s) unpriced" if cost.unpriced_tasks else ""),
        ]
        out += _table(
            ["model", "tasks", "tokens in", "tokens out", "$/M in", "$/M out", "est. cost"],
            [
                [
                    usage.model or "(unknown)",
                    str(usage.tasks),
                    f"{usage.tokens_in:,}",
                    f"{usage.tokens_out:,}",
                    f"{usage.price.input:g}" if usage.price else "?",
                    f"{usage.price.output:g}" if usage.price else "?",
                    usd(usage.cost_usd),
                ]
                for usage in cost.by_model
            ],
        )
        out += ["  prices are estimates from public list prices (override: stats(prices=...))"]

        esc = report.escalation
        out += [
            "",
            "Escalation",
            f"  {esc.review_or_escalated} of {esc.tasks} tasks needed a reviewer or escalated "
            f"({pct(esc.rate)}): {esc.needed_review} needed review, {esc.escalated} escalated",
        ]
        out += ["", commit_title(report)]
        if report.commit.by_tool:
            headers, rows, align = commit_columns(report)
            out += _table(headers, rows, align=align)

    out += ["", "Reviewer agreement per tool"]
    if report.agreement:
        out += _table(
            [
                "profile",
                "tool",
                "reviews",
                "approved",
                "edited",
                "rejected",
                "answered",
                "agreement",
                "wait p50",
                "wait p95",
            ],
            [
                [
                    row.profile,
                    row.tool,
                    str(row.verdicts.reviews),
                    str(row.verdicts.approved),
                    str(row.verdicts.edited),
                    str(row.verdicts.rejected),
                    str(row.verdicts.answered),
                    pct(row.verdicts.agreement),
                    seconds(row.wait_p50_s),
                    seconds(row.wait_p95_s),
                ]
                for row in report.agreement
            ],
            align="llrrrrrrrr",
        )
        out += ["  agreement = approved unchanged / reviews decided"]
    else:
        out += ["  No reviews recorded yet."]

    for profile, bar in report.bars.items():
        assessed = [a for a in report.autonomy if a.profile == profile]
        recommended = [a for a in assessed if a.actionable]
        out += [
            "",
            f"Autonomy in profile {profile}: promote at ≥ {bar.promote_at:.0%} agreement, "
            f"demote below {bar.demote_below:.0%}, over the newest {RECENT_REVIEWS} reviews since "
            f"the tool's last change (at least {bar.min_reviews})",
        ]
        out += _table(
            ["tool", "level", "reviews", "agreement", "advice", "why"],
            [
                [
                    a.tool,
                    a.level,
                    str(a.evidence.reviews),
                    pct(a.evidence.agreement),
                    advice(a),
                    a.reason,
                ]
                for a in assessed
            ],
            align="llrrll",
        )
        if recommended:
            out += ["", "Recommended (nothing changes until someone runs it):"]
            for a in recommended:
                out.append(
                    f"  python starter.py {a.advice} {a.tool} --profile {a.profile} "
                    f'--as NAME --why "..."'
                )
        else:
            out += ["  No change recommended."]
    out += shadow_lines(report)
    out += calibration_lines(report)
    return "\n".join(out) + "\n"


Columns = tuple[list[str], list[list[str]], str]
"""A table's headers, rows and alignment, shared by the text and HTML renderings."""

SHADOW_NOTES = (
    "let through: shadow auto where the enforced rule reviewed or denied; bad: reviewers "
    "rejected, edited or answered instead (they would have run unreviewed); "
    "stopped: shadow review or deny where the enforced rule ran the action on its own"
)
CALIBRATION_NOTES = (
    "n ≥ / bad ≥: reviewed actions stating at least the threshold and the bad among them; "
    "coverage: their share of all reviewed; logprob: the reply's mean token probability"
)


def commit_title(report: StatsReport) -> str:
    """One line: how many tasks that ran a commit point failed it (ended ``commit_failed``)."""
    commit = report.commit
    return (
        f"Commit point: {commit.tasks_failed} of {commit.tasks_committing} tasks that ran one "
        f"failed it ({pct(commit.rate)}); their answers were not delivered"
    )


def commit_columns(report: StatsReport) -> Columns:
    """Per tool, its deferred actions at the commit point (``handrail.reports.commit_point``)."""
    rows = [
        [row.tool, str(row.ran), str(row.failed), pct(row.failure_rate), str(row.never_ran)]
        for row in report.commit.by_tool
    ]
    return ["tool", "ran at commit", "failed", "failure %", "never ran"], rows, "lrrrr"


def shadow_columns(report: StatsReport) -> Columns:
    """Each tool's enforced and shadow verdicts compared (``handrail.reports.shadow``)."""
    headers = ["profile", "tool", "gated", "same", "let through", "reviewed", "bad"]
    headers += ["bad ≤ (95%)", "stopped", "failed/undone", "reviews now → shadow"]
    rows = [
        [
            row.profile,
            row.tool,
            str(row.gated),
            str(row.same),
            str(row.let_through),
            str(row.let_through_reviewed),
            str(row.let_through_bad),
            pct(row.bad_rate_upper),
            str(row.stopped),
            str(row.stopped_failed),
            f"{row.enforced_reviews} → {row.shadow_reviews}",
        ]
        for row in report.shadow
    ]
    return headers, rows, "llrrrrrrrrr"


def calibration_columns(report: StatsReport) -> Columns:
    """Per tool and signal, the recommended ``min_confidence`` and the evidence behind it."""
    headers = ["profile", "tool", "signal", "reviews", "bad", "min_confidence", "n ≥", "bad ≥"]
    headers += ["error ≤", "coverage"]
    rows = []
    for c in report.calibration:
        held = c.recommended
        rows.append(
            [
                c.profile,
                c.tool,
                c.signal,
                str(c.reviews),
                str(c.bad),
                f"{held.threshold:.2f}" if held else "not enough evidence",
                str(held.actions) if held else NONE,
                str(held.bad) if held else NONE,
                pct(held.upper_bound) if held else NONE,
                pct(c.coverage),
            ]
        )
    return headers, rows, "lllrrlrrrr"


def calibration_title(report: StatsReport) -> str:
    return (
        f"Calibrated confidence: the lowest min_confidence whose reviewed actions' error rate "
        f"is ≤ {report.target_error_rate:.1%} (one-sided 95% Clopper-Pearson upper bound)"
    )


def shadow_lines(report: StatsReport) -> list[str]:
    """What each tool's shadow rule would have let through or stopped (none: no section)."""
    if not report.shadow:
        return []
    headers, rows, align = shadow_columns(report)
    out = ["", "Shadow rules (log-only verdicts beside the enforced ones)"]
    out += _table(headers, rows, align=align)
    out += textwrap.wrap(SHADOW_NOTES, 98, initial_indent="  ", subsequent_indent="  ")
    for row in report.shadow:
        if row.bad_examples:
            out.append(f"  {row.tool}: bad let through: {', '.join(row.bad_examples)}")
    return out


def calibration_lines(report: StatsReport) -> list[str]:
    """The calibration table, and why each tool without a recommendation has none."""
    if not report.calibration:
        return []
    headers, rows, align = calibration_columns(report)
    out = ["", calibration_title(report), *_table(headers, rows, align=align)]
    out += textwrap.wrap(CALIBRATION_NOTES, 98, initial_indent="  ", subsequent_indent="  ")
    out += [f"  {c.tool} ({c.signal}): {c.reason}" for c in report.calibration if not c.recommended]
    return out


def format_json(report: StatsReport) -> str:
    return report.model_dump_json(indent=2) + "\n"
