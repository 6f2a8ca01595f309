"""When the state database is away: an activity waits for it through Temporal's retries.

PostgreSQL restarting or unreachable, or a SQLite file whose write lock another process holds,
is an outage that passes. Inside an activity, :meth:`Outages.waiting` turns the driver's error
into a retryable ``ApplicationError(type="StateDatabaseUnavailable")`` and logs one line per
failed attempt naming the database (its password hidden) and what is wrong, so the worker's log
says what a task waits for, not a traceback per retry. Temporal retries the activity under its
policy (``workflows/options.py``); the journal, the reservations and the conversation are
idempotent by key, so a retried attempt finds what an earlier one wrote and adds nothing twice.

The error is raised ``from None`` and BENIGN (the SDK logs it at DEBUG instead of a warning with
a traceback): the line logged here says it all, and SQLAlchemy's own message would carry the
statement's parameters (conversation text, arguments) into the workflow's history.

Other database errors (a bug, a constraint, a missing table), and any error outside an activity
(the CLI, the gateway, which answer a person themselves), pass through unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

STATE_DATABASE_UNAVAILABLE: Final = "StateDatabaseUnavailable"
"""``ApplicationError.type`` of an attempt that failed because the state database was away."""

_SQLITE_LOCKED: Final = ("database is locked", "database table is locked", "database is busy")
_SQLITE_AWAY: Final = ("unable to open database file",)
# PostgreSQL's SQLSTATEs of a server that is away: class 08 (connection exception) and the
# operator's interventions (shutdown, crash, "cannot connect now" while starting or stopping).
_PG_AWAY_PREFIXES: Final = ("08", "57P01", "57P02", "57P03")
_MAX_DETAIL: Final = 300

logger = logging.getLogger(__name__)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else ""
    detail = f"{type(error).__name__}: {line}" if line else type(error).__name__
    return detail[:_MAX_DETAIL]


def outage_reason(error: BaseException, dialect: str) -> str | None:
    """What is wrong, as the end of a sentence starting with the database's name, when
    ``error`` says the database is away; ``None`` for every other error."""
    if not isinstance(error, DBAPIError):
        return None
    cause = error.orig if error.orig is not None else error
    detail = _first_line(cause)
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return f"lost its connection ({detail})"
    if not isinstance(error, OperationalError):
        return None
    message = str(cause).lower()
    if dialect == "sqlite":
        if any(phrase in message for phrase in _SQLITE_LOCKED):
            return f"is locked by another process ({detail})"
        if any(phrase in message for phrase in _SQLITE_AWAY):
            return f"cannot be opened ({detail})"
        return None
    sqlstate = getattr(cause, "sqlstate", None)
    # No SQLSTATE: the client could not reach the server at all (refused, timed out).
    if sqlstate is None or str(sqlstate).startswith(_PG_AWAY_PREFIXES):
        return f"is unreachable ({detail})"
    return None


class Outages:
    """Outages of one state database as this process sees them: the line per failed attempt,
    and one line when the database answers again."""

    def __init__(self, redacted_url: str, dialect: str) -> None:
        self._name = redacted_url
        self._dialect = dialect
        self._away_since: float | None = None

    @asynccontextmanager
    async def waiting(self) -> AsyncIterator[None]:
        """Around one use of the database by an activity (see the module's docstring)."""
        try:
            yield
        except DBAPIError as error:
            reason = outage_reason(error, self._dialect)
            if reason is None or not activity.in_activity():
                raise
            if self._away_since is None:
                self._away_since = time.monotonic()
            info = activity.info()
            activity.logger.warning(
                "Handrail's state database %s %s; %s attempt %d waits for it (Temporal retries)",
                self._name,
                reason,
                info.activity_type,
                info.attempt,
            )
            raise ApplicationError(
                f"Handrail's state database {self._name} {reason}",
                type=STATE_DATABASE_UNAVAILABLE,
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        else:
            if self._away_since is not None:
                away, self._away_since = time.monotonic() - self._away_since, None
                logger.warning(
                    "Handrail's state database %s is back after %.1f s", self._name, away
                )
