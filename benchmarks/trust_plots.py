"""Charts of a trust simulation run as plain SVG (no plotting library is installed here):
the promotion timeline, the review load and the bad actions stopped, against the task number."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from benchmarks.trust_report import Change, Outcome

WIDTH, HEIGHT, PAD = 760, 260, 50
LEFT: Final = 80
"""Room left of the plot for the y labels (\"autonomous\" is ~60 px wide)."""
COLOURS: Final = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e")
LEVELS: Final = ("suggest", "supervised", "autonomous")
ROLLING: Final = 50

Series = tuple[str, Sequence[tuple[float, float]]]


def _chart(
    title: str,
    series: Sequence[Series],
    *,
    x_max: float,
    y_max: float,
    y_ticks: Sequence[tuple[float, str]],
    marks: Sequence[tuple[float, str]] = (),
) -> str:
    def x(value: float) -> float:
        return LEFT + (WIDTH - LEFT - PAD) * value / x_max

    def y(value: float) -> float:
        return HEIGHT - PAD + (2 * PAD - HEIGHT) * value / y_max

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{title}</text>',
        f'<line x1="{LEFT}" y1="{y(0)}" x2="{WIDTH - PAD}" y2="{y(0)}" stroke="black"/>',
        f'<line x1="{LEFT}" y1="{y(0)}" x2="{LEFT}" y2="{y(y_max)}" stroke="black"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle">task</text>',
    ]
    for value, label in y_ticks:
        parts.append(
            f'<text x="{LEFT - 4}" y="{y(value) + 4}" text-anchor="end">{label}</text>'
            f'<line x1="{LEFT}" y1="{y(value)}" x2="{WIDTH - PAD}" y2="{y(value)}" '
            'stroke="#ddd"/>'
        )
    for tick in range(0, int(x_max) + 1, max(1, int(x_max) // 10)):
        parts.append(f'<text x="{x(tick)}" y="{y(0) + 14}" text-anchor="middle">{tick}</text>')
    for at, label in marks:
        parts.append(
            f'<line x1="{x(at)}" y1="{y(0)}" x2="{x(at)}" y2="{y(y_max)}" stroke="#888" '
            f'stroke-dasharray="4 3"/><text x="{x(at) + 3}" y="{y(y_max) + 10}">{label}</text>'
        )
    for number, (name, points) in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(
            f'<text x="{WIDTH - PAD - 116}" y="{40 + 14 * number}" fill="{colour}">{name}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _timeline(
    outcomes: list[Outcome], changes: list[Change], tool: str
) -> list[tuple[float, float]]:
    level = LEVELS.index(next((o.level for o in outcomes if o.tool == tool), "suggest"))
    points = [(0.0, float(level))]
    for change in (c for c in changes if c.tool == tool):
        points += [(change.task, float(level)), (change.task, float(LEVELS.index(change.to_level)))]
        level = LEVELS.index(change.to_level)
    return [*points, (float(len(outcomes)), float(level))]


def _rolling(values: list[float]) -> list[tuple[float, float]]:
    points = []
    for end in range(1, len(values) + 1):
        window = values[max(0, end - ROLLING) : end]
        points.append((float(end), sum(window) / len(window)))
    return points


def _cumulative(flags: list[bool]) -> list[tuple[float, float]]:
    total, points = 0, [(0.0, 0.0)]
    for number, flag in enumerate(flags, 1):
        total += flag
        points.append((float(number), float(total)))
    return points


def draw(
    outcomes: list[Outcome],
    changes: list[Change],
    folder: Path,
    *,
    drift_start: int,
    stem: str = "trust",
) -> list[Path]:
    """Write the three charts into ``folder`` as ``{stem}-timeline.svg`` and so on (another
    ``stem`` for another configuration, so its charts sit beside the default's); returns their
    paths."""
    folder.mkdir(parents=True, exist_ok=True)
    tools = sorted({o.tool for o in outcomes})
    n = float(len(outcomes))
    marks = [(float(drift_start), "error rate of apply_discount rises")]
    charts = {
        f"{stem}-timeline.svg": _chart(
            "Autonomy level in force (promoted by the operator from stats, demoted by the worker)",
            [(tool, _timeline(outcomes, changes, tool)) for tool in tools],
            x_max=n,
            y_max=2.2,
            y_ticks=[(float(i), name) for i, name in enumerate(LEVELS)],
            marks=marks,
        ),
        f"{stem}-review-load.svg": _chart(
            f"Review load: reviews per task, rolling {ROLLING} tasks",
            [("all tasks", _rolling([float(o.reviews) for o in outcomes]))],
            x_max=n,
            y_max=1.2,
            y_ticks=[(v / 4, f"{v / 4:.2f}") for v in range(5)],
            marks=marks,
        ),
        f"{stem}-bad-actions.svg": _chart(
            "Bad actions, cumulative: stopped vs took effect",
            [
                ("stopped", _cumulative([o.bad is not None and o.stopped for o in outcomes])),
                (
                    "took effect",
                    _cumulative([o.bad is not None and not o.stopped for o in outcomes]),
                ),
            ],
            x_max=n,
            y_max=max(1.0, sum(o.bad is not None for o in outcomes) * 1.1),
            y_ticks=[
                (float(v), str(v))
                for v in range(0, sum(o.bad is not None for o in outcomes) + 1, 10)
            ],
            marks=marks,
        ),
    }
    paths = []
    for name, svg in charts.items():
        path = folder / name
        path.write_text(svg, encoding="utf-8")
        paths.append(path)
    return paths
