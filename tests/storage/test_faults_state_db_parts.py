"""Parts of the state database's fault class (``tests/storage/test_faults_state_db.py`` runs tasks
through outages): which errors are an outage, retry policies that outlast one, and a ledger
record that fails for good without failing its task."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from temporalio import activity
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.storage.outage import STATE_DATABASE_UNAVAILABLE, outage_reason
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from handrail.workflows import options
from tests.review_helpers import PROFILE, answer

LONG_OUTAGE = timedelta(seconds=30)


def _patience(policy: RetryPolicy) -> timedelta:
    """How long ``policy`` waits between its first attempt and its last (backoffs only)."""
    interval = policy.initial_interval
    ceiling = policy.maximum_interval or interval * 100
    waited = timedelta(0)
    for _ in range(policy.maximum_attempts - 1):
        waited += min(interval, ceiling)
        interval = min(interval * policy.backoff_coefficient, ceiling)
    return waited


@pytest.mark.parametrize(
    "name", ["PROFILE_RETRY", "DECIDE_RETRY", "ACTION_RETRY", "COMPENSATION_RETRY", "RECORD_RETRY"]
)
def test_every_activity_on_the_state_outlasts_a_30_second_outage(name: str) -> None:
    policy: RetryPolicy = getattr(options, name)
    assert policy.maximum_attempts > 0  # bounded: a dead database fails a task in the end
    assert _patience(policy) >= 2 * LONG_OUTAGE, name


class _LedgerGoneForGood(Interceptor):
    """Every ``record_run`` fails for good (its retries spent), as after a long outage."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FailRecordRun(next)


class _FailRecordRun(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if activity.info().activity_type == "record_run":
            raise ApplicationError(
                "the ledger stayed away", type=STATE_DATABASE_UNAVAILABLE, non_retryable=True
            )
        return await super().execute_activity(input)


async def test_a_ledger_record_that_fails_for_good_does_not_fail_the_task(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    marker = f"ledger-gone-{uuid.uuid4().hex[:8]}"
    model_server.route(marker, Scenario([answer("Nothing to refund")]))
    create_store(store_db_path(settings))
    handrail = HandrailClient(client, settings)
    try:
        async with running_worker(client, settings, interceptors=[_LedgerGoneForGood()]):
            handle = await handrail.start_task({"goal": f"{marker}: hello", "profile": PROFILE})
            result = await handrail.get_result(handle.id)
    finally:
        model_server.unroute(marker)
    assert result.status == "answered"  # the task's own ending, not the ledger's failure
    assert any("run not recorded in the ledger" in r.getMessage() for r in caplog.records)


def _wrapped(kind: type[DBAPIError], cause: Exception) -> DBAPIError:
    return kind("SELECT 1", {"secret": "parameter"}, cause)


@pytest.mark.parametrize(
    ("dialect", "error", "reason"),
    [
        (
            "sqlite",
            _wrapped(OperationalError, sqlite3.OperationalError("database is locked")),
            "is locked by another process (OperationalError: database is locked)",
        ),
        (
            "sqlite",
            _wrapped(OperationalError, sqlite3.OperationalError("no such table: runs")),
            None,
        ),
        (
            "sqlite",
            _wrapped(IntegrityError, sqlite3.IntegrityError("UNIQUE constraint failed")),
            None,
        ),
        (
            "postgresql",
            _wrapped(OperationalError, psycopg.OperationalError("connection failed")),
            "is unreachable (OperationalError: connection failed)",
        ),
        (
            "postgresql",
            _wrapped(OperationalError, psycopg.errors.AdminShutdown("terminating")),
            "is unreachable (AdminShutdown: terminating)",
        ),
        (
            "postgresql",
            _wrapped(OperationalError, psycopg.errors.DeadlockDetected("deadlock")),
            None,
        ),
        (
            "postgresql",
            _wrapped(InterfaceError, psycopg.InterfaceError("the connection is lost")),
            "lost its connection (InterfaceError: the connection is lost)",
        ),
    ],
)
def test_only_a_database_that_is_away_counts_as_an_outage(
    dialect: str, error: DBAPIError, reason: str | None
) -> None:
    """A bug, a constraint or a deadlock is not an outage: it keeps the driver's error."""
    assert outage_reason(error, dialect) == reason
