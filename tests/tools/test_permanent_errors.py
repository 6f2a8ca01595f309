"""Which exceptions of a tool are permanent (``handrail.tools.permanent``), with real exceptions
from real databases: an overflow, a decimal error and PostgreSQL's "integer out of range" fail
once, naming the field; a locked database, a lost partner and a plain ``ValueError`` stay
retryable. The same classification on a real worker:
``examples/store/tests/test_store_bounds.py``."""

from __future__ import annotations

import decimal
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DataError, OperationalError

from handrail.errors import ErrorType
from handrail.tools.permanent import out_of_range_fields, permanent_failure

HUGE = 10**40


def _overflow_from_sqlite(tmp_path: Path) -> OverflowError:
    with sqlite3.connect(tmp_path / "overflow.db") as db:
        try:
            db.execute("SELECT ?", (HUGE,))
        except OverflowError as error:
            return error
    raise AssertionError("SQLite took 10**40")


def _locked_sqlite(tmp_path: Path) -> sqlite3.OperationalError:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with sqlite3.connect(path, timeout=0) as writer:
            writer.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as error:
        return error
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    raise AssertionError("the write did not meet the lock")


def test_overflow_and_decimal_errors_are_permanent_and_name_the_field(tmp_path: Path) -> None:
    arguments = {"order": {"id": HUGE}, "note": "ok", "count": 3}
    failure = permanent_failure(_overflow_from_sqlite(tmp_path), "ship", arguments)
    assert failure is not None
    assert failure.non_retryable
    assert failure.type == ErrorType.ARGUMENT_OUT_OF_RANGE
    assert failure.message.startswith(
        "ship cannot take its arguments: order.id (an integer of 41 digits, beyond 64 bits): "
        "OverflowError: Python int too large to convert to SQLite INTEGER"
    ), failure.message

    amount = "1e400"
    try:
        decimal.Decimal(amount).quantize(decimal.Decimal("0.01"))
    except decimal.InvalidOperation as error:
        failure = permanent_failure(error, "refund", {"amount": amount})
    assert failure is not None
    assert "refund cannot take its arguments: amount (a number of 401 digits)" in failure.message
    # An overflow in the tool's own arithmetic, no argument out of range on its face: still
    # permanent, and the numbers to look at are named.
    failure = permanent_failure(OverflowError("math range error"), "grow", {"rate": 900.0})
    assert failure is not None
    assert "one of rate=900.0" in failure.message


def test_a_locked_database_a_lost_partner_and_a_plain_value_error_stay_retryable(
    tmp_path: Path,
) -> None:
    arguments = {"order_id": 1001, "amount": "12.50"}
    locked = _locked_sqlite(tmp_path)
    assert "locked" in str(locked)
    assert permanent_failure(locked, "refund", arguments) is None
    wrapped = OperationalError("INSERT ...", {}, locked)  # as SQLAlchemy raises it
    assert permanent_failure(wrapped, "refund", arguments) is None
    assert permanent_failure(ConnectionError("partner went away"), "sync", arguments) is None
    with pytest.raises(json.JSONDecodeError) as broken:  # a partner's broken reply (a ValueError)
        json.loads("<html>502 Bad Gateway</html>")
    assert permanent_failure(broken.value, "sync", arguments) is None
    # The same ValueError with an argument no column holds is about the argument.
    assert permanent_failure(ValueError("out of range"), "sync", {"n": HUGE}) is not None


def test_the_fields_no_database_holds() -> None:
    assert out_of_range_fields(
        {
            "small": 2**63 - 1,
            "big": 2**63,
            "negative": -(2**63) - 1,
            "flag": True,
            "ratio": 0.5,
            "money": "12.50",
            "words": "nine",
            "digits": "1" * 40,
            "items": [1, float("inf")],
        }
    ) == [
        "big (an integer of 19 digits, beyond 64 bits)",
        "negative (an integer of 19 digits, beyond 64 bits)",
        "digits (a number of 40 digits)",
        "items[1] (not a finite number)",
    ]


def test_a_postgresql_numeric_value_out_of_range_is_permanent(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE holds (units INTEGER)"))
            with pytest.raises(DataError) as raised:
                connection.execute(text("INSERT INTO holds VALUES (:u)"), {"u": 2**40})
    finally:
        engine.dispose()
    assert "out of range" in str(raised.value)
    failure = permanent_failure(raised.value, "reserve_units", {"units": 2**40})
    assert failure is not None
    assert failure.type == ErrorType.ARGUMENT_OUT_OF_RANGE
    # 2**40 fits 64 bits but not the INTEGER column: the driver's DataError says so.
    assert "reserve_units cannot take its arguments: one of units=1099511627776" in failure.message
    assert "DataError" in failure.message
