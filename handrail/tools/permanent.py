"""Which exceptions of a tool are permanent: the same arguments would fail the same way again.

A tool that raises anything but ``ToolRefused`` fails its attempt, and Temporal retries it (a
locked database, a partner API that went away: the next attempt may succeed). Some failures are
facts about the arguments, not about the world: an ``order_id`` of 10**40 overflows SQLite's
64-bit INTEGER on every attempt, and retrying it holds the task for minutes of backoff before it
fails with a message that names nothing. The runner turns these into one non-retryable
``ApplicationError`` of type ``ArgumentOutOfRange`` that names the tool and the field:

- ``OverflowError`` and ``decimal.DecimalException`` (``InvalidOperation``, ``Overflow``...):
  arithmetic or conversion on the value itself, the same on every attempt;
- a DB-API ``DataError`` (PEP 249: "problems with the processed data like division by zero,
  numeric value out of range"; SQLSTATE class 22 on PostgreSQL, e.g. ``integer out of range``),
  as the driver raises it or as SQLAlchemy wraps it;
- a ``ValueError`` only when an argument holds a number no database column holds (beyond
  64 bits, not finite, more digits than a decimal carries): a plain ``ValueError`` may come from
  a partner's broken reply, which a retry can fix, so it stays retryable.

Everything else stays retryable, a locked or unreachable database first of all
(``sqlite3.OperationalError``, SQLAlchemy's ``OperationalError``).
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from temporalio.exceptions import ApplicationError

from handrail.errors import ErrorType

# What a signed 64-bit integer holds: SQLite's INTEGER, PostgreSQL's bigint.
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# A numeric string beyond this many significant digits is rounded by Python's default decimal
# context (28 digits), so arithmetic on it is no longer exact.
_DECIMAL_DIGITS: Final = 28
_NUMBER: Final = re.compile(
    r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE
)
_MAX_SHOWN: Final = 24  # characters of an offending value quoted in the message
_MAX_DEPTH: Final = 5  # causes followed (SQLAlchemy's ``orig``, ``raise ... from``)


def _out_of_range(value: Any) -> str | None:
    """Why ``value`` is a number that no database column holds, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return None
        return f"an integer of {len(str(abs(value)))} digits, beyond 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "not a finite number"
    if isinstance(value, str) and len(value) <= 10_000 and _NUMBER.fullmatch(value.strip()):
        number = decimal.Decimal(value.strip())
        if not number.is_finite():
            return "not a finite number"
        digits = len(number.as_tuple().digits)
        if number.adjusted() >= 18 or digits > _DECIMAL_DIGITS:
            return f"a number of {max(digits, number.adjusted() + 1)} digits"
    return None


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def out_of_range_fields(arguments: Mapping[str, Any]) -> list[str]:
    """``field (why)`` for each argument, nested ones too, that no database column holds."""
    found = []
    for path, value in _leaves(arguments, ""):
        why = _out_of_range(value)
        if why is not None:
            found.append(f"{path} ({why})")
    return found


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what it wraps: SQLAlchemy's ``orig``, then ``__cause__``."""
    seen: BaseException | None = error
    for _ in range(_MAX_DEPTH):
        if seen is None:
            return
        yield seen
        orig = getattr(seen, "orig", None)
        seen = orig if isinstance(orig, BaseException) else seen.__cause__


def _is_data_error(error: BaseException) -> bool:
    # PEP 249 names the class, and every driver (sqlite3, psycopg, asyncpg, pymysql) and
    # SQLAlchemy's wrapper follow it, so the name is the contract, not any one driver's module.
    return any(kind.__name__ == "DataError" for kind in type(error).__mro__)


def _is_permanent(error: BaseException, fields: list[str]) -> bool:
    for cause in _causes(error):
        if isinstance(cause, OverflowError | decimal.DecimalException) or _is_data_error(cause):
            return True
        if isinstance(cause, ValueError) and fields:
            return True
    return False


def permanent_failure(
    error: Exception, tool: str, arguments: Mapping[str, Any]
) -> ApplicationError | None:
    """The non-retryable failure ``error`` stands for, naming ``tool`` and the field; None if
    a retry might succeed (Temporal retries it as before)."""
    fields = out_of_range_fields(arguments)
    if not _is_permanent(error, fields):
        return None
    detail = str(error).splitlines()[0] if str(error) else ""
    if len(detail) > 200:
        detail = detail[:200] + "…"
    which = "; ".join(fields) if fields else _numbers(arguments)
    return ApplicationError(
        f"{tool} cannot take its arguments: {which}: {type(error).__name__}: {detail} "
        "(the same arguments fail on every attempt, so it is not retried; bound the field in "
        "the tool's argument model, e.g. Field(le=...))",
        type=ErrorType.ARGUMENT_OUT_OF_RANGE,
        non_retryable=True,
    )


def _numbers(arguments: Mapping[str, Any]) -> str:
    """The numeric arguments, when none is out of range on its face (one overflowed in the
    tool's own arithmetic): the fields to look at."""
    numeric = [
        f"{path}={str(value)[:_MAX_SHOWN]}"
        for path, value in _leaves(arguments, "")
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    return "one of " + ", ".join(numeric) if numeric else "one of its values"
