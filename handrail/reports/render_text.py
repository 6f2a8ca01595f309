"""A :class:`~handrail.reports.stats.StatsReport` for a terminal (a plain-text table) and for
machines (JSON). What the table says is ``handrail.reports.view``'s, shared with the page
(``render_html``); this module only lays it out in fixed-width columns."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from handrail.reports.sections import build_view
from handrail.reports.stats import StatsReport
from handrail.reports.view import RECOMMENDED, Section, Table

_WRAP = 98  # what a section says wraps here (indent included); tables and remarks do not
_INDENT = "  "


def _table(table: Table) -> list[str]:
    """Fixed-width columns, each aligned as the table says."""
    widths = [len(h) for h in table.headers]
    for row in table.rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(cells, widths, table.align, strict=True)
        ]
        return _INDENT + "  ".join(parts).rstrip()

    rule = _INDENT + "  ".join("-" * w for w in widths)
    return [line(table.headers), rule, *map(line, table.rows)]


def _wrapped(text: str) -> list[str]:
    # Not at hyphens: "Clopper-Pearson" and "log-only" are names, not places to break.
    return textwrap.wrap(
        text, _WRAP, initial_indent=_INDENT, subsequent_indent=_INDENT, break_on_hyphens=False
    )


def _section(section: Section) -> list[str]:
    out = ["", section.title]
    for line in section.lines:
        out += _wrapped(line)
    if section.table is not None:
        out += _table(section.table)
    for note in section.notes:
        out += _wrapped(note)
    out += [_INDENT + remark for remark in section.remarks]
    if section.recommendations:
        out += ["", RECOMMENDED]
        out += [_INDENT + r.command for r in section.recommendations]
    return out


def format_table(report: StatsReport) -> str:
    """The report as plain text for a terminal."""
    view = build_view(report)
    out = [
        f"Handrail stats: {view.summary}",
        f"{_INDENT}ledger {view.ledger}" if view.ledger else "",
    ]
    if view.nothing_yet:
        out.append(_INDENT + view.nothing_yet)
    for section in view.sections:
        out += _section(section)
    return "\n".join(out) + "\n"


def format_json(report: StatsReport) -> str:
    return report.model_dump_json(indent=2) + "\n"
