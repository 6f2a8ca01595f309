"""Long tasks continue as new between steps, carrying what review, rollback and limits need:
a failure after the boundary compensates effects made before it, a deferred email still goes out
at the commit point, a review after the boundary resolves, the result stays bounded, and a
continued run's history replays."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from examples.store.database import create_store
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import RECENT_STEPS_KEPT, TaskResult
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from handrail.workflows.agent import AgentWorkflow
from tests.review_helpers import PROFILE, WHY, answer, email, refund, wait_for_pending

# Small enough that a few steps cross it: each step adds about a dozen events.
EVERY = 100
LOOKUP = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})


@pytest_asyncio.fixture
async def handrail(
    client: Client, settings: HandrailSettings, tmp_path: Path
) -> AsyncIterator[HandrailClient]:
    # The actions profile with room for long tasks (its own budgets would end them first).
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles)
    actions = profiles / "store_actions.toml"
    text = actions.read_text().replace("max_steps = 8", "max_steps = 200")
    actions.write_text(text.replace("max_tokens = 40000", "max_tokens = 10000000"))
    long = settings.model_copy(
        update={"continue_as_new_after_events": EVERY, "profiles_dir": profiles}
    )
    create_store(store_db_path(long))
    async with running_worker(client, long):
        yield HandrailClient(client, long)


async def _runs(client: Client, task_id: str) -> list[str]:
    """The run ids of a task's chain, oldest first, followed back from the latest run through
    each run's ``continued_execution_run_id`` (no visibility lag)."""
    runs: list[str] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(task_id, run_id=run_id)
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        runs.append(history.run_id)
        if not started.continued_execution_run_id:
            return list(reversed(runs))
        run_id = started.continued_execution_run_id


def _refund_cents(settings: HandrailSettings) -> list[int]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return [row[0] for row in db.execute("SELECT amount_cents FROM refunds ORDER BY id")]


async def _run_task(
    handrail: HandrailClient, server: ScriptedModelServer, replies: list[Reply]
) -> str:
    server.brain = Scenario(replies)
    handle = await handrail.start_task({"goal": "A long job", "profile": PROFILE})
    return handle.id


async def test_a_failure_after_the_boundary_undoes_what_came_before(
    handrail: HandrailClient, model_server: ScriptedModelServer, client: Client
) -> None:
    replies: list[Reply] = [refund(1001, "5.00"), *[LOOKUP] * 14, refund(1002, "5.00")]
    replies += [ToolCallReply("escalate", {"reason": "a manager, please", **WHY})]
    task_id = await _run_task(handrail, model_server, replies)
    result = await handrail.get_result(task_id)

    assert len(await _runs(client, task_id)) >= 2  # it did continue as new
    assert result.status == "escalated"
    assert [(c.step, c.status) for c in result.compensations] == [(16, "undone"), (1, "undone")]
    assert _refund_cents(handrail.settings) == []


async def test_a_deferred_email_and_a_review_cross_the_boundary(
    handrail: HandrailClient, model_server: ScriptedModelServer, client: Client
) -> None:
    replies: list[Reply] = [email(1003), *[LOOKUP] * 14, refund(1003, "80.00"), answer("Done")]
    task_id = await _run_task(handrail, model_server, replies)
    pending = await wait_for_pending(handrail, task_id, timeout=30)
    assert pending.step == 16  # the big refund, in a later run than the email
    runs = await _runs(client, task_id)
    assert len(runs) >= 2
    await handrail.review(task_id, {"reviewer": "alice", "step": 16, "verdict": "approve"})
    result = await handrail.get_result(task_id)

    assert result.status == "answered"
    assert _refund_cents(handrail.settings) == [8000]
    with sqlite3.connect(store_db_path(handrail.settings)) as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone() == (1,)
        keys = db.execute(
            "SELECT idempotency_key FROM refunds UNION ALL SELECT idempotency_key FROM outbox"
        ).fetchall()
    # Keys name the task's first run whichever run acted: stable across continue-as-new (the
    # email asked for in the first run is sent at the commit point of the last).
    assert sorted(key for (key,) in keys) == [f"{task_id}/{runs[0]}/0", f"{task_id}/{runs[0]}/15"]
    first = min(result.steps, key=lambda s: s.step)
    assert first.step == 1  # still carried: fewer than RECENT_STEPS_KEPT steps
    assert first.outcome is not None  # the email's outcome, written at the commit point
    assert first.outcome.ok


async def test_the_result_stays_bounded_and_a_continued_run_replays(
    handrail: HandrailClient, model_server: ScriptedModelServer, client: Client
) -> None:
    steps = 3 * RECENT_STEPS_KEPT
    replies: list[Reply] = [*[LOOKUP] * steps, answer("Done")]
    task_id = await _run_task(handrail, model_server, replies)
    result: TaskResult = await handrail.get_result(task_id)

    assert result.status == "answered"
    # The newest RECENT_STEPS_KEPT carried into the last run, plus that run's own steps.
    assert RECENT_STEPS_KEPT <= len(result.steps) < steps
    assert result.earlier_steps + len(result.steps) == steps + 1
    runs = await _runs(client, task_id)
    assert len(runs) >= 3
    last = await client.get_workflow_handle(task_id, run_id=runs[-1]).fetch_history()
    events = [e for e in last.events]
    assert len(events) < EVERY + 40  # every run stays near the threshold
    replayer = Replayer(workflows=[AgentWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(WorkflowHistory.from_json(task_id, last.to_json()))
