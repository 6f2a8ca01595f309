"""Rollback you can trust: every done step is undone in reverse when a task does not commit,
and every side effect takes effect once. Real dev server, real SQLite store, full-table checks."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError

from examples.store.database import create_store, snapshot
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import Trace
from handrail.errors import TaskFailedError
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from handrail.tools.runner import FaultPoint
from tests.profile_copies import REFUND_SHARED_LIMIT, store_profiles
from tests.review_helpers import PROFILE, WHY, answer, discount, email, refund

THREE_ACTIONS: list[Reply] = [discount(1001, "5.00"), refund(1001, "10.00"), discount(1002, "3.00")]
ACTION_NAMES = ["apply_discount", "issue_refund", "apply_discount"]


class FailAt:
    """A fault hook: raise at ``point`` of the action or compensation for ``step`` (0-based)."""

    def __init__(
        self, point: FaultPoint, name: str, step: int, *, times: int = 1, retryable: bool = False
    ) -> None:
        self.point, self.name, self.suffix = point, name, f"/{step}"
        self.remaining, self.retryable = times, retryable
        self.fired = 0

    def __call__(self, point: FaultPoint, name: str, idempotency_key: str) -> None:
        matches = (point, name) == (self.point, self.name)
        if matches and idempotency_key.endswith(self.suffix) and self.remaining > 0:
            self.remaining -= 1
            self.fired += 1
            raise ApplicationError(
                f"injected fault at {point} of {name}", non_retryable=not self.retryable
            )


@pytest.fixture
def store(settings: HandrailSettings) -> HandrailSettings:
    create_store(store_db_path(settings))
    return settings


async def _run(
    client: Client,
    settings: HandrailSettings,
    server: ScriptedModelServer,
    replies: Sequence[Reply | Callable[[dict[str, Any]], Reply]],
    *,
    faults: FailAt | None = None,
) -> tuple[str, TaskFailedError | None]:
    server.brain = Scenario(replies)
    handrail = HandrailClient(client, settings)
    options: dict[str, Any] = {"faults": faults} if faults else {}
    async with running_worker(client, settings, **options):
        handle = await handrail.start_task({"goal": "Make it right", "profile": PROFILE})
        try:
            await handrail.get_result(handle.id)
        except TaskFailedError as error:
            return handle.id, error
    return handle.id, None


async def _trace(client: Client, settings: HandrailSettings, task_id: str) -> Trace:
    async with running_worker(client, settings):  # a query of a closed run replays on a worker
        return await HandrailClient(client, settings).get_trace(task_id)


@pytest.mark.parametrize(
    ("fail_step", "point"),
    [
        (0, "before_effect"),
        (1, "before_commit"),
        (2, "before_commit"),
        (2, "after_commit"),
    ],
)
async def test_failure_at_step_k_leaves_the_database_exactly_as_before(
    client: Client,
    store: HandrailSettings,
    model_server: ScriptedModelServer,
    fail_step: int,
    point: FaultPoint,
) -> None:
    before = snapshot(store_db_path(store))
    fault = FailAt(point, ACTION_NAMES[fail_step], fail_step)
    task_id, error = await _run(
        client, store, model_server, [*THREE_ACTIONS, answer()], faults=fault
    )

    assert fault.fired == 1
    assert error is not None
    assert f"{ACTION_NAMES[fail_step]} failed: injected fault at {point}" in str(error)
    assert f"rolled back {fail_step + 1} step(s)" in str(error)
    assert snapshot(store_db_path(store)) == before  # every row of every store table

    trace = await _trace(client, store, task_id)
    assert trace.status == "failed"
    assert [c.step for c in trace.compensations] == list(range(fail_step + 1, 0, -1))  # reverse
    # Past "before_effect" the failed step's effect exists (whether or not Handrail's journal
    # recorded it) and is undone by its key too.
    failed_step_status = "nothing_to_undo" if point == "before_effect" else "undone"
    assert trace.compensations[0].status == failed_step_status
    assert all(c.status == "undone" for c in trace.compensations[1:])


async def test_cancelling_a_running_task_compensates_what_was_done(
    client: Client, store: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    before = snapshot(store_db_path(store))

    def slow_third_decision(_: dict[str, Any]) -> Reply:
        time.sleep(3)  # holds the third decide open so the test can cancel mid-task
        return answer()

    model_server.brain = Scenario(
        [discount(1001, "5.00"), refund(1001, "10.00"), slow_third_decision]
    )
    handrail = HandrailClient(client, store)
    async with running_worker(client, store):
        handle = await handrail.start_task({"goal": "Cancel me", "profile": PROFILE})
        for _ in range(100):
            trace = await handrail.get_trace(handle.id)
            if sum(1 for s in trace.steps if s.outcome is not None) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(snapshot(store_db_path(store))["refunds"]) == 1  # the effects happened
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        trace = await handrail.get_trace(handle.id)

    assert snapshot(store_db_path(store)) == before
    assert trace.status == "cancelled"
    assert [(c.tool, c.status) for c in trace.compensations] == [
        ("issue_refund", "undone"),
        ("apply_discount", "undone"),
    ]


async def test_a_lost_completion_takes_effect_once(
    client: Client, store: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    # The refund commits, then the activity fails before reporting: Temporal retries it.
    fault = FailAt("after_commit", "issue_refund", 0, retryable=True)
    task_id, error = await _run(
        client, store, model_server, [refund(1001, "10.00"), answer()], faults=fault
    )
    assert error is None
    assert fault.fired == 1
    with sqlite3.connect(store_db_path(store)) as db:
        rows = db.execute("SELECT task_id, amount_cents FROM refunds").fetchall()
    with sqlite3.connect(store.state_db_path) as state:  # Handrail's effect journal
        journal = state.execute("SELECT COUNT(*) FROM effect_journal").fetchone()[0]
    assert rows == [(task_id, 1000)]
    assert journal == 1
    trace = await _trace(client, store, task_id)
    assert trace.steps[0].outcome is not None
    assert trace.steps[0].outcome.result["refund_id"] == 1


async def test_an_irreversible_email_waits_for_the_commit(
    client: Client, store: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    task_id, error = await _run(
        client, store, model_server, [email(1001), refund(1001, "10.00"), answer("Refunded")]
    )
    assert error is None
    trace = await _trace(client, store, task_id)
    assert trace.status == "answered"
    email_step = trace.steps[0]
    assert email_step.outcome is not None  # ran, at the commit point
    assert email_step.outcome.ok
    with sqlite3.connect(store_db_path(store)) as db:
        refund_id = db.execute("SELECT id FROM refunds").fetchone()[0]
        outbox = db.execute("SELECT to_address, subject FROM outbox").fetchall()
    with sqlite3.connect(store.state_db_path) as state:
        journal = state.execute("SELECT tool FROM effect_journal ORDER BY applied_at")
        applied = [row[0] for row in journal]
    assert refund_id == 1
    assert outbox == [("ada@example.com", "Sorry")]
    assert applied == ["issue_refund", "send_email"]  # the email went after the reversible step


async def test_an_email_never_goes_out_for_a_task_that_rolls_back(
    client: Client, store: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    before = snapshot(store_db_path(store))
    fault = FailAt("before_commit", "issue_refund", 1)
    task_id, error = await _run(
        client, store, model_server, [email(1001), refund(1001, "10.00"), answer()], faults=fault
    )
    assert error is not None
    assert snapshot(store_db_path(store)) == before  # the outbox is empty
    trace = await _trace(client, store, task_id)
    assert trace.steps[0].note == "send_email never ran: the task rolled back"


async def test_a_compensation_that_fails_is_reported_for_manual_recovery(
    client: Client, store: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    # The refund at step 1 cannot be voided; the discount at step 0 still is.
    fault = FailAt("before_effect", "void_refund", 1, times=100)
    replies: list[Reply] = [
        discount(1001, "5.00"),
        refund(1001, "10.00"),
        ToolCallReply("lookup_price", {"product": "Headlamp", **WHY}),
    ]
    task_id, error = await _run(client, store, model_server, replies, faults=fault)
    assert error is not None
    message = str(error)
    assert "needs manual recovery: issue_refund at step 2" in message
    assert re.search(rf"\(key {task_id}/[0-9a-f-]{{36}}/1\)", message)  # the run's own key
    trace = await _trace(client, store, task_id)
    assert trace.status == "needs_recovery"
    assert [(c.tool, c.status) for c in trace.compensations] == [
        ("issue_refund", "failed"),
        ("apply_discount", "undone"),
    ]
    tables = snapshot(store_db_path(store))
    assert len(tables["refunds"]) == 1  # left for a person, and said so
    assert tables["discounts"] == []


@pytest.mark.parametrize("ending", ["escalate", "step budget"])
async def test_escalation_and_exhausted_budget_roll_back(
    client: Client, store: HandrailSettings, model_server: ScriptedModelServer, ending: str
) -> None:
    before = snapshot(store_db_path(store))
    lookup = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})
    last = (
        ToolCallReply("escalate", {"reason": "needs a manager", **WHY})
        if ending == "escalate"
        else lookup
    )
    task_id, error = await _run(
        client, store, model_server, [discount(1001, "5.00"), refund(1001, "10.00"), last]
    )
    assert error is None
    trace = await _trace(client, store, task_id)
    assert trace.status == ("escalated" if ending == "escalate" else "budget_exhausted")
    assert [c.status for c in trace.compensations] == ["undone", "undone"]
    assert snapshot(store_db_path(store)) == before


async def test_refusal_by_the_store_is_an_answer_not_an_effect(
    client: Client, store: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    # A profile without risk limits, so the store's own rule (not the policy) is what refuses.
    profiles = store_profiles(
        tmp_path,
        ("review_above = 50\ndeny_above = 500\ntask_limit = 200\n" + REFUND_SHARED_LIMIT, ""),
    )
    permissive = store.model_copy(update={"profiles_dir": profiles})

    task_id, error = await _run(
        client, permissive, model_server, [refund(1001, "999.00"), answer("I cannot refund that")]
    )
    assert error is None
    trace = await _trace(client, permissive, task_id)
    assert trace.steps[0].gate is not None
    assert trace.steps[0].gate.action == "auto"
    outcome = trace.steps[0].outcome
    assert outcome is not None
    assert not outcome.ok
    assert outcome.error == "999.00 EUR exceeds the 104.49 EUR still open on order 1001"
    assert snapshot(store_db_path(store))["refunds"] == []
