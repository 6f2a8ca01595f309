"""``Money``: an amount of money as a tool argument, for ``@tool(amount_field=...)``.

An amount travels as a decimal string (``"12.50"``), never a float: exact, and a JSON schema
can say everything the type checks. That matters because the policy validates arguments
against the tool's JSON schema inside the workflow, where the tool's pydantic models cannot be
imported: the schema below refuses every amount the pydantic type refuses (zero, a negative
amount, a third decimal place, more than eight digits before the point), and a few forms the
type would parse (``1e3``, ``007``, a number rather than a string), so a bad amount is refused
by the gate, naming the field, before any limit is read or any tool runs.

A tighter bound on one tool belongs in its profile (``deny_above``, ``review_above``,
``task_limit``), where it is enforced and a person can read it, not in a narrower copy of this
type whose schema the policy would not see.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Final

from pydantic import Field, WithJsonSchema

MAX_MONEY_DIGITS: Final = 10
"""Digits in all, two of them after the point: up to 99,999,999.99, which a database's
``NUMERIC(10, 2)`` or integer cents hold."""

MONEY_PATTERN: Final = r"^(?!0+(?:\.0+)?$)[0-9]{1,8}(?:\.[0-9]{1,2})?$"
"""The schema's form of ``Money``: 1 to 8 digits, at most 2 decimal places, not zero."""

Money = Annotated[
    Decimal,
    Field(gt=0, max_digits=MAX_MONEY_DIGITS, decimal_places=2),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": 'An amount of money as a decimal string, e.g. "12.50".',
        }
    ),
]
"""A positive amount with at most two decimal places, sent as a decimal string.

Zero is refused too: an action that moves no money is a mistake of the model's, and the
policy's money limits have nothing to read in it.
"""

__all__ = ["MAX_MONEY_DIGITS", "MONEY_PATTERN", "Money"]
