"""A :class:`~handrail.reports.stats.StatsReport` as one self-contained HTML page: inline SVG bar
charts and CSS, no script, no external asset.

The charts are laid out here (positions and sizes: arithmetic, kept in Python) and written by
the Jinja template in ``render_html_template``, which escapes every value it is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import jinja2

from handrail.reports.autonomy import RECENT_REVIEWS
from handrail.reports.outcomes import OUTCOMES
from handrail.reports.render_html_template import PAGE, STYLE
from handrail.reports.render_text import (
    CALIBRATION_NOTES,
    NONE,
    SHADOW_NOTES,
    advice,
    alignment,
    calibration_columns,
    calibration_title,
    commit_columns,
    commit_title,
    ms,
    pct,
    shadow_columns,
    usd,
    when,
)
from handrail.reports.stats import StatsReport

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
OUTCOME_COLOURS: Final[dict[str, str]] = {
    "success": "#009E73",
    "approved": "#56B4E9",
    "failure": "#D55E00",
    "denied": "#CC79A7",
    "rejected": "#E69F00",
    "escalated": "#F0E442",
    "compensated": "#0072B2",
    "skipped": "#999999",
}
VERDICT_COLOURS: Final[dict[str, str]] = {
    "approved": "#009E73",
    "edited": "#56B4E9",
    "rejected": "#D55E00",
    "answered": "#E69F00",
}

_CHART_WIDTH = 760
_LABEL_WIDTH = 150
_ROW_HEIGHT = 26
_BAR_HEIGHT = 18

_TEMPLATE = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
).from_string(PAGE)


@dataclass(frozen=True)
class Shape:
    """One SVG element: ``text`` is a ``<text>``'s content, or a tooltip for the others."""

    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Chart:
    width: int = _CHART_WIDTH
    height: float = 0
    shapes: list[Shape] = field(default_factory=list)

    def rect(
        self, x: float, y: float, width: float, height: float, fill: str, title: str = ""
    ) -> None:
        attrs = {"x": f"{x:.1f}", "y": f"{y:g}", "width": f"{width:.1f}", "height": f"{height:g}"}
        self.shapes.append(Shape("rect", {**attrs, "fill": fill}, title))

    def text(self, x: float, y: float, text: str, css: str = "small", **extra: str) -> None:
        attrs = {"x": f"{x:.1f}", "y": f"{y:g}", "class": css, **extra}
        self.shapes.append(Shape("text", attrs, text))

    def legend(self, colours: Mapping[str, str]) -> float:
        """A row of swatches at the top; returns where the bars start."""
        x = 0.0
        for name, colour in colours.items():
            at = round(x)  # whole pixels: the swatches need no better
            self.rect(at, 0, 12, 12, colour)
            self.text(at + 16, 10, name)
            x += 28 + 6.5 * len(name)
        return 22


def _stacked_chart(
    rows: Sequence[tuple[str, str, Sequence[tuple[str, int]]]],
    colours: Mapping[str, str],
    *,
    marks: Sequence[tuple[float, str]] = (),
) -> Chart | None:
    """One horizontal bar per row, split by share of each category; ``rows`` are (label,
    right-hand note, [(category, count)]); ``marks`` draw dashed vertical lines at shares."""
    if not rows:
        return None
    span = _CHART_WIDTH - _LABEL_WIDTH - 110
    chart = Chart()
    top = chart.legend(colours)
    for i, (label, note, segments) in enumerate(rows):
        y = top + i * _ROW_HEIGHT
        total = sum(count for _, count in segments) or 1
        x = float(_LABEL_WIDTH)
        chart.text(_LABEL_WIDTH - 8, y + 13, label, "label")
        for category, count in segments:
            if count:
                width = span * count / total
                title = f"{label}: {category} {count} ({count / total:.1%})"
                chart.rect(x, y, width, _BAR_HEIGHT, colours[category], title)
                x += width
        chart.text(_LABEL_WIDTH + span + 8, y + 13, note)
    bottom = top + len(rows) * _ROW_HEIGHT
    for number, (share, name) in enumerate(sorted(marks)):
        x = _LABEL_WIDTH + span * share
        line = {"x1": f"{x:.1f}", "y1": f"{top - 4:g}", "x2": f"{x:.1f}", "y2": f"{bottom:g}"}
        chart.shapes.append(Shape("line", {**line, "class": "mark"}))
        # The lowest mark's label reads leftwards, the others rightwards: close marks stay legible.
        anchor, shift = ("end", -3) if number == 0 else ("start", 3)
        chart.text(x + shift, bottom + 12, name, **{"text-anchor": anchor})
    chart.height = bottom + (18 if marks else 4)
    return chart


def _latency_chart(report: StatsReport) -> Chart | None:
    if not report.latency:
        return None
    span = _CHART_WIDTH - _LABEL_WIDTH - 200  # room for the numbers after the longest bar
    top_value = max((row.p95_ms for row in report.latency if not math.isnan(row.p95_ms)), default=0)
    scale = span / top_value if top_value > 0 else 0.0
    chart = Chart()
    top = chart.legend({"p50": "#0072B2", "p95": "#9CC3E4"})
    for i, row in enumerate(report.latency):
        y = top + i * (_ROW_HEIGHT + 8)
        p95 = 0.0 if math.isnan(row.p95_ms) else row.p95_ms
        p50 = 0.0 if math.isnan(row.p50_ms) else row.p50_ms
        chart.text(_LABEL_WIDTH - 8, y + 15, row.kind, "label")
        long = max(p95 * scale, 1)
        chart.rect(_LABEL_WIDTH, y, long, 22, "#9CC3E4", f"{row.kind} p95 {ms(p95)} ms")
        chart.rect(
            _LABEL_WIDTH, y + 5, max(p50 * scale, 1), 12, "#0072B2", f"{row.kind} p50 {ms(p50)} ms"
        )
        chart.text(_LABEL_WIDTH + long + 6, y + 15, f"p50 {ms(p50)} · p95 {ms(p95)} ms")
    chart.height = top + len(report.latency) * (_ROW_HEIGHT + 8)
    return chart


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None
) -> dict[str, Any]:
    return {"headers": headers, "rows": rows, "sides": alignment(headers, align)}


def _agreement_chart(report: StatsReport) -> Chart | None:
    marks: list[tuple[float, str]] = []
    if report.bar is not None:
        marks = [
            (report.bar.demote_below, f"demote < {report.bar.demote_below:.0%}"),
            (report.bar.promote_at, f"promote ≥ {report.bar.promote_at:.0%}"),
        ]
    rows = []
    for row in report.agreement:
        v = row.verdicts
        label = row.tool if report.profile == row.profile else f"{row.tool} ({row.profile})"
        counts = [("approved", v.approved), ("edited", v.edited)]
        counts += [("rejected", v.rejected), ("answered", v.answered)]
        rows.append((label, f"{pct(v.agreement)} of {v.reviews}", counts))
    return _stacked_chart(rows, VERDICT_COLOURS, marks=marks)


def _autonomy(report: StatsReport) -> list[dict[str, Any]]:
    """One section per assessed profile."""
    sections = []
    for profile, bar in report.bars.items():
        assessed = [a for a in report.autonomy if a.profile == profile]
        rows = [
            [a.tool, a.level, a.evidence.reviews, pct(a.evidence.agreement), advice(a), a.reason]
            for a in assessed
        ]
        headers = ["tool", "level", "reviews", "agreement", "advice", "why"]
        sections.append(
            {
                "profile": profile,
                "promote_at": f"{bar.promote_at:.0%}",
                "demote_below": f"{bar.demote_below:.0%}",
                "recent": RECENT_REVIEWS,
                "min_reviews": bar.min_reviews,
                "table": _table(headers, rows, "llrrll"),
                "recommendations": [a for a in assessed if a.actionable],
            }
        )
    return sections


def format_html(report: StatsReport) -> str:
    """The report as one self-contained HTML page."""
    span = ""
    if report.tasks:
        span = f"finished {when(report.first_finished)} … {when(report.last_finished)}"
    cost, esc = report.cost, report.escalation
    cards = [
        ("tasks", f"{report.tasks:,}", span),
        ("answered", pct(report.answered_rate) if report.tasks else NONE, ""),
        (
            "needed review or escalated",
            pct(esc.rate) if report.tasks else NONE,
            f"{esc.review_or_escalated:,} tasks",
        ),
        (
            "tokens per task",
            f"{cost.tokens_in_per_task + cost.tokens_out_per_task:,.0f}",
            f"{cost.tokens_in_per_task:,.0f} in · {cost.tokens_out_per_task:,.0f} out",
        ),
        ("est. cost per task", usd(cost.cost_per_task_usd), "list-price estimate"),
    ]
    outcomes = _stacked_chart(
        [
            (
                r.action,
                f"{r.steps:,} · {pct(r.success_rate)} ok",
                [(o, r.counts.get(o, 0)) for o in OUTCOMES],
            )
            for r in report.actions
        ],
        OUTCOME_COLOURS,
    )
    source = report.ledger or "the run ledger"
    if report.since:
        source += f" · since {report.since.isoformat()}"
    by_count = sorted(report.statuses.items(), key=lambda kv: -kv[1])
    return _TEMPLATE.render(
        style=STYLE,
        generated=report.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        source=source,
        cards=cards,
        statuses=", ".join(f"{s} {c:,}" for s, c in by_count),
        outcomes=outcomes,
        outcome_table=_table(
            ["action", "steps", "success %", "failure %", *OUTCOMES],
            [
                [r.action, r.steps, pct(r.success_rate), pct(r.failure_rate)]
                + [r.counts.get(o, 0) for o in OUTCOMES]
                for r in report.actions
            ],
        ),
        latency=_latency_chart(report),
        latency_table=_table(
            ["kind", "count", "p50 ms", "p95 ms", "max ms"],
            [[r.kind, r.count, ms(r.p50_ms), ms(r.p95_ms), ms(r.max_ms)] for r in report.latency],
        ),
        agreement=_agreement_chart(report),
        autonomies=_autonomy(report),
        commit_title=commit_title(report),
        commit=_table(*commit_columns(report)) if report.commit.by_tool else None,
        shadow=_table(*shadow_columns(report)) if report.shadow else None,
        shadow_notes=SHADOW_NOTES,
        shadow_examples=[
            f"{row.tool}: {', '.join(row.bad_examples)}"
            for row in report.shadow
            if row.bad_examples
        ],
        calibration=_table(*calibration_columns(report)) if report.calibration else None,
        calibration_title=calibration_title(report),
        calibration_notes=CALIBRATION_NOTES,
        calibration_reasons=[
            f"{c.tool} ({c.signal}): {c.reason}" for c in report.calibration if not c.recommended
        ],
        cost_table=_table(
            ["model", "tasks", "tokens in", "tokens out", "$/M in", "$/M out", "est. cost"],
            [
                [
                    u.model or "(unknown)",
                    u.tasks,
                    f"{u.tokens_in:,}",
                    f"{u.tokens_out:,}",
                    f"{u.price.input:g}" if u.price else "?",
                    f"{u.price.output:g}" if u.price else "?",
                    usd(u.cost_usd),
                ]
                for u in cost.by_model
            ],
        ),
        unpriced=cost.unpriced_tasks,
    )
