"""The ``stats`` report's sections on trust (``handrail.trust``): reviewer agreement, earned
autonomy, shadow rules and calibrated confidence, each a ``handrail.reports.view.Section``."""

from __future__ import annotations

from typing import Final

from handrail.profiles.catalog import AutonomyBar
from handrail.reports.formats import NONE, pct, seconds
from handrail.reports.measures import ToolAgreement
from handrail.reports.stats import StatsReport
from handrail.reports.view import Recommendation, Section, table
from handrail.trust.autonomy import RECENT_REVIEWS, Assessment

SHADOW_NOTES: Final = (
    "let through: shadow auto where the enforced rule reviewed or denied; bad: reviewers "
    "rejected, edited or answered instead (they would have run unreviewed); "
    "stopped: shadow review or deny where the enforced rule ran the action on its own"
)
CALIBRATION_NOTES: Final = (
    "n ≥ / bad ≥: reviewed actions stating at least the threshold and the bad among them; "
    "coverage: their share of all reviewed; logprob: the reply's mean token probability"
)


def advice(assessment: Assessment) -> str:
    if assessment.actionable:
        return f"{assessment.advice.upper()} → {assessment.to}"
    return assessment.advice


def _agreement_row(row: ToolAgreement) -> list[str]:
    v = row.verdicts
    counts = [f"{n:,}" for n in (v.reviews, v.approved, v.edited, v.rejected, v.answered)]
    waits = [seconds(row.wait_p50_s), seconds(row.wait_p95_s)]
    return [row.profile, row.tool, *counts, pct(v.agreement), *waits]


def agreement_section(report: StatsReport) -> Section:
    title = "Reviewer agreement per tool"
    if not report.agreement:
        return Section("agreement", title, ("No reviews recorded yet.",))
    headers = ["profile", "tool", "reviews", "approved", "edited", "rejected", "answered"]
    headers += ["agreement", "wait p50", "wait p95"]
    rows = [_agreement_row(row) for row in report.agreement]
    note = (
        "agreement = approved unchanged / reviews decided (approved, edited, rejected, "
        "answered instead)"
    )
    return Section("agreement", title, table=table(headers, rows, "ll" + "r" * 8), notes=(note,))


def autonomy_section(report: StatsReport, profile: str, bar: AutonomyBar) -> Section:
    """One assessed profile's tools (``stats`` assesses every profile the ledger holds)."""
    assessed = [a for a in report.autonomy if a.profile == profile]
    rows = [
        [a.tool, a.level, f"{a.evidence.reviews:,}", pct(a.evidence.agreement), advice(a), a.reason]
        for a in assessed
    ]
    recommendations = tuple(
        Recommendation(
            a.advice,
            a.tool,
            a.reason,
            f'python starter.py {a.advice} {a.tool} --profile {a.profile} --as NAME --why "..."',
        )
        for a in assessed
        if a.actionable
    )
    return Section(
        "autonomy",
        f"Earned autonomy in profile {profile}",
        (
            f"promote at ≥ {bar.promote_at:.0%} agreement, demote below {bar.demote_below:.0%}, "
            f"over the newest {RECENT_REVIEWS} reviews since the tool's last change (at least "
            f"{bar.min_reviews})",
        ),
        table(["tool", "level", "reviews", "agreement", "advice", "why"], rows, "llrrll"),
        notes=() if recommendations else ("No change recommended.",),
        recommendations=recommendations,
    )


def shadow_section(report: StatsReport) -> Section:
    """Each tool's enforced and shadow verdicts compared (``handrail.trust.shadow``)."""
    headers = ["profile", "tool", "gated", "same", "let through", "reviewed", "bad"]
    headers += ["bad ≤ (95%)", "stopped", "failed/undone", "reviews now → shadow"]
    rows = [
        [row.profile, row.tool]
        + [f"{n:,}" for n in (row.gated, row.same, row.let_through)]
        + [f"{row.let_through_reviewed:,}", f"{row.let_through_bad:,}", pct(row.bad_rate_upper)]
        + [f"{row.stopped:,}", f"{row.stopped_failed:,}"]
        + [f"{row.enforced_reviews:,} → {row.shadow_reviews:,}"]
        for row in report.shadow
    ]
    return Section(
        "shadow",
        "Shadow rules (log-only verdicts beside the enforced ones)",
        table=table(headers, rows, "ll" + "r" * 9),
        notes=(SHADOW_NOTES,),
        remarks=tuple(
            f"{row.tool}: bad let through: {', '.join(row.bad_examples)}"
            for row in report.shadow
            if row.bad_examples
        ),
    )


def calibration_section(report: StatsReport) -> Section:
    """Per tool and signal, the recommended ``min_confidence`` and the evidence behind it."""
    headers = ["profile", "tool", "signal", "reviews", "bad", "min_confidence", "n ≥", "bad ≥"]
    headers += ["error ≤", "coverage"]
    rows = []
    for c in report.calibration:
        held = c.recommended
        evidence = ["not enough evidence", NONE, NONE, NONE]
        if held is not None:
            evidence = [f"{held.threshold:.2f}", f"{held.actions:,}", f"{held.bad:,}"]
            evidence.append(pct(held.upper_bound))
        reviewed = [f"{c.reviews:,}", f"{c.bad:,}"]
        rows.append([c.profile, c.tool, c.signal, *reviewed, *evidence, pct(c.coverage)])
    return Section(
        "calibration",
        "Calibrated confidence",
        (
            f"the lowest min_confidence whose reviewed actions' error rate is ≤ "
            f"{report.target_error_rate:.1%} (one-sided 95% Clopper-Pearson upper bound)",
        ),
        table(headers, rows, "lllrrlrrrr"),
        notes=(CALIBRATION_NOTES,),
        remarks=tuple(
            f"{c.tool} ({c.signal}): {c.reason}" for c in report.calibration if not c.recommended
        ),
    )
