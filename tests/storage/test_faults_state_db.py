"""The state database away (issue 19): PostgreSQL stopped and started again, and a SQLite state
file whose write lock another process holds, with tasks mid-action, mid-review, mid-rollback,
finishing and starting while it is away.

The outage begins inside a real worker at the worst moment of an action: after the refund took
effect in the store's database, before the effect journal records it. Meanwhile a reviewer
approves one task (its action runs into the outage), rejects another whose earlier refund must be
voided (its rollback runs into it), rejects one with nothing to undo (its ledger record runs into
it), and a new task starts (its profile load runs into it). Then the database comes back and,
from the store's and the state's own tables, not Handrail's counters: every task ended as
expected, every effect happened once and every undo undid, the shared-limit reservations
balance with the refunds that stand, the ledger holds every run once; and the worker's log said
what it waited for, one line per failed attempt naming the database with its password hidden,
and no traceback.

The default run has a short outage; ``-m slow`` a 30-second one (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.storage.engine import StateDatabase
from handrail.storage.outage import STATE_DATABASE_UNAVAILABLE
from handrail.testing.postgres import PostgresCluster, PostgresNotInstalledError, throwaway_cluster
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer
from handrail.tools.runner import FaultHook, FaultPoint
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending
from tests.state_db_outages import (
    OUTAGE_LINE,
    PASSWORD,
    Outage,
    PostgresOutage,
    SqliteLock,
    outage_traceback,
    reset_postgres,
    rows,
    sync_url,
)
from tests.storage.test_shared_limits import RULE, _profiles_with

SHORT_OUTAGE = 3.0  # seconds: the default run
LONG_OUTAGE = 30.0  # seconds: -m slow


# --- outages ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A cluster of this module's own: stopping it breaks no other test's database."""
    try:
        with throwaway_cluster() as running:
            yield running
    except PostgresNotInstalledError as missing:
        pytest.skip(str(missing))


@pytest_asyncio.fixture
async def outage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Outage]:
    made: PostgresOutage | SqliteLock
    if request.param == "postgresql":
        made = PostgresOutage(request.getfixturevalue("cluster"))
        reset_postgres(made.url)
    else:
        made = SqliteLock(tmp_path / "state" / "handrail.db")
    try:
        yield made
    finally:
        await asyncio.to_thread(made.end)


# --- the tasks ------------------------------------------------------------------------------


def _outage_at_effect(task_id: str, outage: Outage, begun: threading.Event) -> FaultHook:
    """Begin the outage when ``task_id``'s refund took effect, before the journal records it."""

    def hook(point: FaultPoint, name: str, idempotency_key: str) -> None:
        at_effect = (point, name) == ("before_commit", "issue_refund")
        if at_effect and idempotency_key.startswith(f"{task_id}/") and not begun.is_set():
            outage.begin()
            begun.set()

    return hook


SCENARIOS: dict[str, list[Reply]] = {
    # mid-action: the outage begins between its refund's effect and its journal record
    "action": [refund(1001, "5.00"), answer("Refunded 5.00")],
    # mid-review: approved during the outage, so its refund runs into it
    "approved": [refund(1002, "60.00"), answer("Refunded 60.00")],
    # mid-rollback: its first refund stands, the second is rejected, so the first is voided
    "rolled back": [refund(1003, "10.00"), refund(1003, "70.00"), answer("never")],
    # rejected with nothing to undo: it finishes during the outage (its ledger record waits)
    "rejected": [refund(1002, "55.00"), answer("never")],
    # started during the outage: its profile (autonomy levels) is read from the state
    "started": [answer("Nothing to refund")],
}
EXPECTED_STATUS = {
    "action": "answered",
    "approved": "answered",
    "rolled back": "rejected",
    "rejected": "rejected",
    "started": "answered",
}
REFUNDS_KEPT = {"action": 500, "approved": 6000}  # cents, of the tasks that commit


async def _run_through_outage(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    outage: Outage,
    seconds: float,
    tmp_path: Path,
) -> tuple[dict[str, str], float]:
    """Run the five tasks through an outage of ``seconds``; their ids, and how long the last
    task took to finish after the database came back."""
    marker = f"state-db-{uuid.uuid4().hex[:8]}"
    ids = {kind: f"{marker}-{kind.replace(' ', '-')}" for kind in SCENARIOS}
    for kind, replies in SCENARIOS.items():
        model_server.route(f"{marker} {kind}", Scenario(replies))
    settings = settings.model_copy(
        update={"profiles_dir": _profiles_with(tmp_path, RULE), "state_url": SecretStr(outage.url)}
    )
    create_store(store_db_path(settings))
    handrail = HandrailClient(client, settings)
    begun = threading.Event()
    faults = _outage_at_effect(ids["action"], outage, begun)

    async def start(kind: str) -> None:
        goal = f"{marker} {kind}: the customer's order"
        await handrail.start_task({"goal": goal, "profile": PROFILE, "task_id": ids[kind]})

    async def decide(kind: str, verdict: str, step: int) -> None:
        decision = {"reviewer": "alice", "step": step, "verdict": verdict}
        await handrail.review(ids[kind], decision)

    try:
        async with running_worker(client, settings, faults=faults):
            for kind in ("rolled back", "approved", "rejected"):
                await start(kind)
            steps = {
                kind: (await wait_for_pending(handrail, ids[kind])).step
                for kind in ("rolled back", "approved", "rejected")
            }
            await start("action")
            assert await asyncio.to_thread(begun.wait, 60), "the action never took effect"
            # Sent, not awaited: an update's answer waits for the workflow task, which a
            # local activity waiting for the database (the ledger record) holds open.
            decisions = [
                asyncio.create_task(decide("approved", "approve", steps["approved"])),
                asyncio.create_task(decide("rolled back", "reject", steps["rolled back"])),
                asyncio.create_task(decide("rejected", "reject", steps["rejected"])),
            ]
            await start("started")
            await asyncio.sleep(seconds)
            await asyncio.to_thread(outage.end)
            back = time.monotonic()
            results = await asyncio.wait_for(
                asyncio.gather(*(handrail.get_result(ids[kind]) for kind in SCENARIOS)),
                timeout=seconds + 120,
            )
            recovered = time.monotonic() - back
            await asyncio.gather(*decisions)
    finally:
        for kind in SCENARIOS:
            model_server.unroute(f"{marker} {kind}")
    statuses = {kind: result.status for kind, result in zip(SCENARIOS, results, strict=True)}
    assert statuses == EXPECTED_STATUS
    return ids, recovered


# --- what the databases and the log say ---------------------------------------------------------


def _assert_nothing_lost_or_doubled(
    settings: HandrailSettings, state_url: str, ids: dict[str, str]
) -> None:
    kind_of = {task: kind for kind, task in ids.items()}
    tasks = list(ids.values())
    store_url = f"sqlite:///{store_db_path(settings)}"
    refunds = rows(
        store_url, "SELECT task_id, amount_cents FROM refunds WHERE task_id IN ({ids})", tasks
    )
    assert sorted((kind_of[t], cents) for t, cents in refunds) == sorted(REFUNDS_KEPT.items())

    state = sync_url(state_url)
    journal = rows(
        state,
        "SELECT task_id, applied_at IS NOT NULL, compensated_at IS NOT NULL"
        " FROM effect_journal WHERE task_id IN ({ids})",
        tasks,
    )
    assert sorted((kind_of[t], bool(a), bool(c)) for t, a, c in journal) == [
        ("action", True, False),
        ("approved", True, False),
        ("rolled back", True, True),  # its first refund: applied, then voided
    ]
    reservations = rows(
        state,
        "SELECT task_id, amount, released_at IS NOT NULL FROM limit_reservations"
        " WHERE task_id IN ({ids})",
        tasks,
    )
    live = sorted((kind_of[t], round(float(a) * 100)) for t, a, gone in reservations if not gone)
    assert live == sorted(REFUNDS_KEPT.items())  # kept for what stands, for nothing else
    released = [kind_of[t] for t, _, gone in reservations if gone]
    assert released == ["rolled back"]
    ledger = rows(state, "SELECT task_id, status FROM runs WHERE task_id IN ({ids})", tasks)
    assert sorted((kind_of[t], status) for t, status in ledger) == sorted(EXPECTED_STATUS.items())


def _assert_log_says_why(records: list[logging.LogRecord], waited_in: set[str]) -> None:
    lines = [r.getMessage() for r in records if r.getMessage().startswith(OUTAGE_LINE)]
    waiting = [line for line in lines if "waits for it" in line]
    for activity_type in waited_in:
        assert any(f"; {activity_type} attempt" in line for line in waiting), (activity_type, lines)
    assert len(waiting) == len(set(waiting))  # one line per failed attempt, not a repetition
    assert any("is back after" in line for line in lines), lines
    everything = "\n".join(r.getMessage() for r in records)
    assert PASSWORD not in everything
    for record in records:  # a line that says it, not a traceback per retry
        assert not outage_traceback(record), record.getMessage()
        assert "not recorded in the ledger" not in record.getMessage()


# PostgreSQL away: every activity that reads or writes the state waits for it. A SQLite lock
# blocks writers only (readers, like the profile's autonomy levels, go on under WAL).
WAITED_IN = {
    "postgresql": {"issue_refund", "void_refund", "record_run", "load_profile"},
    "sqlite": {"issue_refund", "void_refund", "record_run", "decide"},
}


@pytest.mark.parametrize("outage", ["postgresql", "sqlite"], indirect=True)
async def test_tasks_wait_for_the_state_database_and_resume(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    outage: Outage,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    kind = "postgresql" if isinstance(outage, PostgresOutage) else "sqlite"
    # A SQLite lock must outlast the state's busy timeout to fail an attempt at all.
    seconds = SHORT_OUTAGE if kind == "postgresql" else 7.0
    ids, _ = await _run_through_outage(client, settings, model_server, outage, seconds, tmp_path)
    _assert_nothing_lost_or_doubled(settings, outage.url, ids)
    _assert_log_says_why(caplog.records, WAITED_IN[kind])


@pytest.mark.slow
@pytest.mark.parametrize("outage", ["postgresql"], indirect=True)
async def test_a_30_second_postgresql_outage_loses_and_doubles_nothing(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    outage: Outage,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    ids, recovered = await _run_through_outage(
        client, settings, model_server, outage, LONG_OUTAGE, tmp_path
    )
    _assert_nothing_lost_or_doubled(settings, outage.url, ids)
    _assert_log_says_why(caplog.records, WAITED_IN["postgresql"])
    lines = [r for r in caplog.records if r.getMessage().startswith(OUTAGE_LINE)]
    print(
        f"\n30 s outage: {len(lines)} outage lines, all tasks done {recovered:.1f} s after the "
        f"database came back, {time.monotonic() - started:.1f} s in all"
    )


# --- the parts ------------------------------------------------------------------------------


async def test_the_pool_survives_a_restart(cluster: PostgresCluster) -> None:
    """Connections a restart cut are replaced as they are taken (``pool_pre_ping``), so the
    first transaction after the restart succeeds instead of failing on a dead connection."""
    database = StateDatabase(cluster.url)
    try:
        assert await database.run(lambda db: db.execute(text("SELECT 1")).scalar_one()) == 1
        await asyncio.to_thread(cluster.take_down)
        await asyncio.to_thread(cluster.bring_back)
        assert await database.run(lambda db: db.execute(text("SELECT 2")).scalar_one()) == 2
    finally:
        await database.aclose()


async def test_an_activity_fails_retryably_naming_the_database(
    cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(cluster.url).set(password=PASSWORD).render_as_string(False)
    database = StateDatabase(url)
    await database.ready()

    async def read_state() -> int:
        return int(await database.run(lambda db: db.execute(text("SELECT 1")).scalar_one()))

    try:
        await asyncio.to_thread(cluster.take_down)
        try:
            with pytest.raises(ApplicationError) as failed:
                await ActivityEnvironment().run(read_state)
            # Outside an activity (the CLI, the gateway) the driver's error is left as it is.
            with pytest.raises(DBAPIError) as outside:
                await read_state()
        finally:
            await asyncio.to_thread(cluster.bring_back)
    finally:
        await database.aclose()
    error = failed.value
    assert error.type == STATE_DATABASE_UNAVAILABLE
    assert not error.non_retryable
    assert error.category == ApplicationErrorCategory.BENIGN  # no SDK traceback per retry
    assert error.__cause__ is None  # no SQL parameters carried into history
    assert database.redacted in error.message
    assert "is unreachable" in error.message
    assert PASSWORD not in error.message
    assert not isinstance(outside.value, ApplicationError)
    logged = [r.getMessage() for r in caplog.records if OUTAGE_LINE in r.getMessage()]
    assert len(logged) == 1, logged
    assert database.redacted in logged[0]
    assert PASSWORD not in caplog.text
