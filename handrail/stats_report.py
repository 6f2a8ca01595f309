"""A :class:`~handrail.stats.StatsReport` for people and machines: a terminal table, JSON, and
a self-contained HTML page (inline SVG bar charts and CSS; no script, no external asset)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from handrail.autonomy import RECENT_REVIEWS, Assessment
from handrail.ledger import OUTCOMES
from handrail.stats import StatsReport

NONE = "-"  # an empty cell

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
OUTCOME_COLOURS: dict[str, str] = {
    "success": "#009E73",
    "approved": "#56B4E9",
    "failure": "#D55E00",
    "denied": "#CC79A7",
    "rejected": "#E69F00",
    "escalated": "#F0E442",
    "compensated": "#0072B2",
    "skipped": "#999999",
}
VERDICT_COLOURS: dict[str, str] = {
    "approved": "#009E73",
    "edited": "#56B4E9",
    "rejected": "#D55E00",
    "answered": "#E69F00",
}


def _pct(value: float | None) -> str:
    return NONE if value is None or math.isnan(value) else f"{value:.1%}"


def _ms(value: float) -> str:
    if math.isnan(value):
        return NONE
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _usd(value: float | None) -> str:
    if value is None:
        return NONE
    return f"${value:,.2f}" if value >= 1 else f"${value:.5f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return NONE
    return f"{value:,.0f} s" if value >= 10 else f"{value:.1f} s"


def _when(text: str | None) -> str:
    return (text or "")[:16].replace("T", " ")


def _alignment(headers: Sequence[str], align: str | None) -> str:
    """One letter per column, ``l`` or ``r``; by default the first column left, the rest right
    (numbers)."""
    return align or "l" + "r" * (len(headers) - 1)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, align: str | None = None
) -> list[str]:
    """Fixed-width columns, aligned as ``align`` says (see :func:`_alignment`)."""
    sides = _alignment(headers, align)
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


def _advice(assessment: Assessment) -> str:
    if assessment.actionable:
        return f"{assessment.advice.upper()} → {assessment.to}"
    return assessment.advice


def format_table(report: StatsReport) -> str:
    """The report as plain text for a terminal."""
    out: list[str] = []
    span = ""
    if report.tasks:
        span = f" finished {_when(report.first_finished)} … {_when(report.last_finished)}"
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
                    _pct(row.success_rate),
                    _pct(row.failure_rate),
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
                [row.kind, str(row.count), _ms(row.p50_ms), _ms(row.p95_ms), _ms(row.max_ms)]
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
            f"  estimated cost: {_usd(cost.cost_per_task_usd)} per task "
            f"(p95 {_usd(cost.cost_per_task_p95_usd)}), {_usd(cost.cost_usd)} in all"
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
                    _usd(usage.cost_usd),
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
            f"({_pct(esc.rate)}): {esc.needed_review} needed review, {esc.escalated} escalated",
        ]

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
                    _pct(row.verdicts.agreement),
                    _seconds(row.wait_p50_s),
                    _seconds(row.wait_p95_s),
                ]
                for row in report.agreement
            ],
            align="llrrrrrrrr",
        )
        out += ["  agreement = approved unchanged / reviews decided"]
    else:
        out += ["  No reviews recorded yet."]

    if report.profile is not None and report.bar is not None:
        bar = report.bar
        out += [
            "",
            f"Autonomy in profile {report.profile}: promote at ≥ {bar.promote_at:.0%} agreement, "
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
                    _pct(a.evidence.agreement),
                    _advice(a),
                    a.reason,
                ]
                for a in report.autonomy
            ],
            align="llrrll",
        )
        if report.recommendations:
            out += ["", "Recommended (nothing changes until someone runs it):"]
            for a in report.recommendations:
                out.append(
                    f"  python starter.py {a.advice} {a.tool} --profile {a.profile} "
                    f'--as NAME --why "..."'
                )
        else:
            out += ["  No change recommended."]
    return "\n".join(out) + "\n"


def format_json(report: StatsReport) -> str:
    return report.model_dump_json(indent=2) + "\n"


# --- HTML ---------------------------------------------------------------------------------

_CHART_WIDTH = 760
_LABEL_WIDTH = 150
_ROW_HEIGHT = 26
_BAR_HEIGHT = 18


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _legend(colours: dict[str, str], y: float) -> tuple[str, float]:
    parts, x = [], 0.0
    for name, colour in colours.items():
        parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16:.0f}" y="{y + 10:.0f}" class="small">{_e(name)}</text>'
        )
        x += 28 + 6.5 * len(name)
    return "".join(parts), y + 22


def _stacked_chart(
    rows: Sequence[tuple[str, str, Sequence[tuple[str, int]]]],
    colours: dict[str, str],
    *,
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    """One horizontal bar per row, split by share of each category; ``rows`` are (label,
    right-hand note, [(category, count)]); ``marks`` draw dashed vertical lines at shares."""
    if not rows:
        return '<p class="none">No data yet.</p>'
    span = _CHART_WIDTH - _LABEL_WIDTH - 110
    legend, top = _legend(colours, 0)
    parts = [legend]
    for i, (label, note, segments) in enumerate(rows):
        y = top + i * _ROW_HEIGHT
        total = sum(count for _, count in segments) or 1
        x = float(_LABEL_WIDTH)
        parts.append(f'<text x="{_LABEL_WIDTH - 8}" y="{y + 13}" class="label">{_e(label)}</text>')
        for category, count in segments:
            if not count:
                continue
            width = span * count / total
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{_BAR_HEIGHT}" '
                f'fill="{colours[category]}"><title>{_e(label)}: {_e(category)} {count} '
                f"({count / total:.1%})</title></rect>"
            )
            x += width
        parts.append(
            f'<text x="{_LABEL_WIDTH + span + 8}" y="{y + 13}" class="small">{_e(note)}</text>'
        )
    bottom = top + len(rows) * _ROW_HEIGHT
    for number, (share, name) in enumerate(sorted(marks)):
        x = _LABEL_WIDTH + span * share
        # The lowest mark's label reads leftwards, the others rightwards: close marks stay legible.
        anchor, shift = ("end", -3) if number == 0 else ("start", 3)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" class="mark"/>'
            f'<text x="{x + shift:.1f}" y="{bottom + 12}" class="small" '
            f'text-anchor="{anchor}">{_e(name)}</text>'
        )
    height = bottom + (18 if marks else 4)
    return (
        f'<svg viewBox="0 0 {_CHART_WIDTH} {height}" width="{_CHART_WIDTH}" height="{height}" '
        f'role="img">{"".join(parts)}</svg>'
    )


def _latency_chart(report: StatsReport) -> str:
    if not report.latency:
        return '<p class="none">No data yet.</p>'
    span = _CHART_WIDTH - _LABEL_WIDTH - 200  # room for the numbers after the longest bar
    top_value = max((row.p95_ms for row in report.latency if not math.isnan(row.p95_ms)), default=0)
    scale = span / top_value if top_value > 0 else 0.0
    legend, top = _legend({"p50": "#0072B2", "p95": "#9CC3E4"}, 0)
    parts = [legend]
    for i, row in enumerate(report.latency):
        y = top + i * (_ROW_HEIGHT + 8)
        p95 = 0.0 if math.isnan(row.p95_ms) else row.p95_ms
        p50 = 0.0 if math.isnan(row.p50_ms) else row.p50_ms
        parts.append(
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + 15}" class="label">{_e(row.kind)}</text>'
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{max(p95 * scale, 1):.1f}" height="22" '
            f'fill="#9CC3E4"><title>{_e(row.kind)} p95 {_ms(p95)} ms</title></rect>'
            f'<rect x="{_LABEL_WIDTH}" y="{y + 5}" width="{max(p50 * scale, 1):.1f}" '
            f'height="12" fill="#0072B2"><title>{_e(row.kind)} p50 {_ms(p50)} ms</title></rect>'
            f'<text x="{_LABEL_WIDTH + max(p95 * scale, 1) + 6:.1f}" y="{y + 15}" class="small">'
            f"p50 {_ms(p50)} · p95 {_ms(p95)} ms</text>"
        )
    height = top + len(report.latency) * (_ROW_HEIGHT + 8)
    return (
        f'<svg viewBox="0 0 {_CHART_WIDTH} {height}" width="{_CHART_WIDTH}" height="{height}" '
        f'role="img">{"".join(parts)}</svg>'
    )


def _html_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, align: str | None = None
) -> str:
    sides = _alignment(headers, align)
    head = "".join(
        f'<th class="{side}">{_e(h)}</th>' for h, side in zip(headers, sides, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{side}">{_e(c)}</td>' for c, side in zip(row, sides, strict=True))
        + "</tr>"
        for row in rows
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _card(title: str, value: str, note: str = "") -> str:
    return (
        f'<div class="card"><div class="small">{_e(title)}</div>'
        f'<div class="big">{_e(value)}</div><div class="small">{_e(note)}</div></div>'
    )


_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430;
       margin: 2rem auto; max-width: 960px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.small, svg .small { font-size: 11px; fill: #4a5566; color: #4a5566; }
svg .label { font-size: 12px; text-anchor: end; fill: #1d2430; }
svg .mark { stroke: #1d2430; stroke-dasharray: 4 3; }
.cards { display: flex; gap: .8rem; flex-wrap: wrap; margin: 1rem 0; }
.card { border: 1px solid #d8dee8; border-radius: 6px; padding: .5rem .8rem; min-width: 140px; }
.big { font-size: 1.4rem; font-weight: 600; }
table { border-collapse: collapse; margin: .6rem 0; font-size: 12px; }
th, td { border-bottom: 1px solid #e3e8ef; padding: .2rem .5rem; }
.l { text-align: left; } .r { text-align: right; }
.scroll { overflow-x: auto; }
.none { color: #4a5566; font-style: italic; }
.rec { background: #fff6e0; border-left: 4px solid #E69F00; padding: .4rem .8rem; }
code { background: #f1f4f8; padding: .1rem .3rem; border-radius: 3px; }
"""


def format_html(report: StatsReport) -> str:
    """The report as one self-contained HTML page."""
    generated = report.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    span = ""
    if report.tasks:
        span = f" · finished {_when(report.first_finished)} … {_when(report.last_finished)}"
    cost = report.cost
    cards = "".join(
        [
            _card("tasks", f"{report.tasks:,}", span.removeprefix(" · ")),
            _card("answered", _pct(report.answered_rate) if report.tasks else NONE),
            _card(
                "needed review or escalated",
                _pct(report.escalation.rate) if report.tasks else NONE,
                f"{report.escalation.review_or_escalated:,} tasks",
            ),
            _card(
                "tokens per task",
                f"{cost.tokens_in_per_task + cost.tokens_out_per_task:,.0f}",
                f"{cost.tokens_in_per_task:,.0f} in · {cost.tokens_out_per_task:,.0f} out",
            ),
            _card("est. cost per task", _usd(cost.cost_per_task_usd), "list-price estimate"),
        ]
    )
    outcomes = _stacked_chart(
        [
            (
                row.action,
                f"{row.steps:,} · {_pct(row.success_rate)} ok",
                [(o, row.counts.get(o, 0)) for o in OUTCOMES],
            )
            for row in report.actions
        ],
        OUTCOME_COLOURS,
    )
    outcome_table = _html_table(
        ["action", "steps", "success %", "failure %", *OUTCOMES],
        [
            [
                r.action,
                r.steps,
                _pct(r.success_rate),
                _pct(r.failure_rate),
                *(r.counts.get(o, 0) for o in OUTCOMES),
            ]
            for r in report.actions
        ],
    )
    latency_table = _html_table(
        ["kind", "count", "p50 ms", "p95 ms", "max ms"],
        [[r.kind, r.count, _ms(r.p50_ms), _ms(r.p95_ms), _ms(r.max_ms)] for r in report.latency],
    )
    marks: list[tuple[float, str]] = []
    if report.bar is not None:
        marks = [
            (report.bar.demote_below, f"demote < {report.bar.demote_below:.0%}"),
            (report.bar.promote_at, f"promote ≥ {report.bar.promote_at:.0%}"),
        ]
    agreement = _stacked_chart(
        [
            (
                row.tool if report.profile == row.profile else f"{row.tool} ({row.profile})",
                f"{_pct(row.verdicts.agreement)} of {row.verdicts.reviews}",
                [
                    ("approved", row.verdicts.approved),
                    ("edited", row.verdicts.edited),
                    ("rejected", row.verdicts.rejected),
                    ("answered", row.verdicts.answered),
                ],
            )
            for row in report.agreement
        ],
        VERDICT_COLOURS,
        marks=marks,
    )
    autonomy = ""
    if report.profile is not None and report.bar is not None:
        recs = (
            "".join(
                f'<p class="rec"><b>{_e(a.advice)} {_e(a.tool)}</b> ({_e(a.reason)}): '
                f"<code>python starter.py {_e(a.advice)} {_e(a.tool)} --profile "
                f'{_e(a.profile)} --as NAME --why "..."</code></p>'
                for a in report.recommendations
            )
            or '<p class="none">No change recommended.</p>'
        )
        autonomy = (
            f"<h2>Earned autonomy in profile {_e(report.profile)}</h2>"
            f'<p class="small">Promote at ≥ {report.bar.promote_at:.0%} agreement, demote below '
            f"{report.bar.demote_below:.0%}, over the newest {RECENT_REVIEWS} reviews since the "
            f"tool's last change (at least {report.bar.min_reviews}). Nothing changes until a "
            "person runs the command."
            "</p>"
            + _html_table(
                ["tool", "level", "reviews", "agreement", "advice", "why"],
                [
                    [
                        a.tool,
                        a.level,
                        a.evidence.reviews,
                        _pct(a.evidence.agreement),
                        _advice(a),
                        a.reason,
                    ]
                    for a in report.autonomy
                ],
                align="llrrll",
            )
            + recs
        )
    statuses = ", ".join(
        f"{_e(s)} {c:,}" for s, c in sorted(report.statuses.items(), key=lambda kv: -kv[1])
    )
    source = _e(report.ledger or "the run ledger")
    if report.since:
        source += f" · since {_e(report.since.isoformat())}"
    cost_table = _html_table(
        ["model", "tasks", "tokens in", "tokens out", "$/M in", "$/M out", "est. cost"],
        [
            [
                u.model or "(unknown)",
                u.tasks,
                f"{u.tokens_in:,}",
                f"{u.tokens_out:,}",
                f"{u.price.input:g}" if u.price else "?",
                f"{u.price.output:g}" if u.price else "?",
                _usd(u.cost_usd),
            ]
            for u in cost.by_model
        ],
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Handrail stats</title><style>{_STYLE}</style></head><body>
<h1>Handrail stats</h1>
<p class="small">Generated {_e(generated)} from {source}</p>
<div class="cards">{cards}</div>
<p class="small">Tasks by status: {statuses or "none yet"}</p>
<h2>Outcomes by action type</h2>{outcomes}{outcome_table}
<p class="small">success % = (success + approved) / steps. Hover a bar for its counts.</p>
<h2>Latency per step kind</h2>{_latency_chart(report)}{latency_table}
<h2>Reviewer agreement per tool</h2>{agreement}
<p class="small">agreement = approved unchanged / reviews decided (approved, edited, rejected,
answered instead).</p>
{autonomy}
<h2>Tokens and estimated cost</h2>{cost_table}
<p class="small">Costs are estimates from public list prices, without discounts or caching;
unpriced tasks: {cost.unpriced_tasks}.</p>
</body></html>
"""
