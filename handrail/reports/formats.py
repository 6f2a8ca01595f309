"""How the ``stats`` report writes its numbers: one format per kind of cell, for the terminal
and the page alike (``handrail.reports.view``)."""

from __future__ import annotations

import math
from typing import Final

NONE: Final = "-"
"""An empty cell: no value, or not a number."""


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
    """A ledger time (ISO 8601 text) to the minute."""
    return (text or "")[:16].replace("T", " ")
