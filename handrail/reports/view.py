"""The ``stats`` report as people read it: a :class:`StatsView` of sections, built once from a
:class:`~handrail.reports.stats.StatsReport` (``handrail.reports.sections``), that ``render_text``
(the terminal) and ``render_html`` (the page) both draw.

Every section is a title, lines that say what it found, a table of formatted cells, notes on how
to read the table, remarks on single rows, and (autonomy) the recommended commands, in the order
both renderings show them. Numbers are written once (``handrail.reports.formats``), so the
terminal and the page cannot tell two stories; the page adds only its cards and its charts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

SectionKey = Literal[
    "statuses",
    "outcomes",
    "latency",
    "cost",
    "escalation",
    "commit",
    "agreement",
    "autonomy",
    "shadow",
    "calibration",
]

NO_TASKS: Final = "No finished tasks recorded yet."
RECOMMENDED: Final = "Recommended (nothing changes until someone runs it):"


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: str
    """One letter per column, ``l`` (text) or ``r`` (numbers)."""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> Table:
    """A table; by default the first column left, the rest right (numbers)."""
    found = tuple(tuple(row) for row in rows)
    sides = align or "l" + "r" * (len(headers) - 1)
    if any(len(row) != len(headers) for row in found) or len(sides) != len(headers):
        raise ValueError(f"every row and the alignment need {len(headers)} cells")
    return Table(tuple(headers), found, sides)


@dataclass(frozen=True)
class Recommendation:
    advice: str
    tool: str
    reason: str
    command: str
    """The command that applies it (nothing changes until someone runs it)."""


@dataclass(frozen=True)
class Section:
    key: SectionKey
    title: str
    lines: tuple[str, ...] = ()
    """What it found, before the table."""
    table: Table | None = None
    notes: tuple[str, ...] = ()
    """How to read the table."""
    remarks: tuple[str, ...] = ()
    """One line each on rows that need more than a cell (examples, reasons)."""
    recommendations: tuple[Recommendation, ...] = ()


@dataclass(frozen=True)
class Card:
    """A headline number at the top of the page."""

    label: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class StatsView:
    summary: str
    """``N task(s)``, since when, finished from … to."""
    ledger: str
    generated: str
    cards: tuple[Card, ...]
    nothing_yet: str
    """:data:`NO_TASKS` on an empty ledger (the sections about tasks are then left out)."""
    sections: tuple[Section, ...]
