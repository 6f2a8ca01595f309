"""The governor hosted by a workflow Handrail did not write: the same gate, review, effects,
rollback and ledger as AgentWorkflow, through the same handlers (real dev server, real store)."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import AgentTask, TaskResult
from handrail.settings import HandrailSettings
from tests.governance.scripted_host import (
    HOST_WORKFLOW,
    ProposedCall,
    ScriptedGovernedAgent,
    ScriptedPlan,
)
from tests.review_helpers import PROFILE, wait_for_pending

SURE = 0.95
PRICE = ProposedCall(tool="lookup_price", arguments={"product": "Trail Runner"}, confidence=SURE)
DISCOUNT = ProposedCall(
    tool="apply_discount",
    arguments={"order_id": 1001, "amount": "5.00", "reason": "late"},
    confidence=SURE,
)
BIG_REFUND = ProposedCall(
    tool="issue_refund",
    arguments={"order_id": 1001, "amount": "80.00", "reason": "damaged"},
    confidence=SURE,
)


@pytest.fixture
def store(settings: HandrailSettings) -> HandrailSettings:
    create_store(store_db_path(settings))
    return settings


def _rows(settings: HandrailSettings, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


async def _start(client: Client, settings: HandrailSettings, calls: list[ProposedCall]) -> str:
    task_id = f"host-{uuid.uuid4().hex[:8]}"
    plan = ScriptedPlan(task=AgentTask(goal="Make it right", profile=PROFILE), calls=calls)
    await client.start_workflow(
        HOST_WORKFLOW, plan, id=task_id, task_queue=settings.task_queue, result_type=TaskResult
    )
    return task_id


async def test_a_read_runs_unreviewed_and_a_large_refund_waits_for_a_person(
    client: Client, store: HandrailSettings
) -> None:
    handrail = HandrailClient(client, store)
    async with running_worker(client, store, workflows=[ScriptedGovernedAgent]):
        task_id = await _start(client, store, [PRICE, BIG_REFUND])
        pending = await wait_for_pending(handrail, task_id)
        assert (pending.step, pending.tool) == (2, "issue_refund")
        listed = [task for task, _ in await handrail.pending_reviews(task_queue=store.task_queue)]
        assert task_id in listed
        assert _rows(store, "refunds") == []  # nothing ran before the approval
        await handrail.review(task_id, {"reviewer": "alice", "step": 2, "verdict": "approve"})
        # The answer follows an action that changed the world and states no confidence.
        answer = await wait_for_pending(handrail, task_id, timeout=30)
        assert answer.tool == "final_answer"
        await handrail.review(task_id, {"reviewer": "alice", "step": 3, "verdict": "approve"})
        handle = client.get_workflow_handle(task_id, result_type=TaskResult)
        result = await handle.result()
    assert result.status == "answered", result
    first = result.steps[0]
    assert first.gate is not None
    assert first.gate.action == "auto"
    assert first.review is None
    assert len(_rows(store, "refunds")) == 1


async def test_a_rejected_refund_rolls_back_the_discount_before_it(
    client: Client, store: HandrailSettings
) -> None:
    handrail = HandrailClient(client, store)
    async with running_worker(client, store, workflows=[ScriptedGovernedAgent]):
        task_id = await _start(client, store, [DISCOUNT, BIG_REFUND])
        await wait_for_pending(handrail, task_id)
        await handrail.review(task_id, {"reviewer": "alice", "step": 2, "verdict": "reject"})
        result = await client.get_workflow_handle(task_id, result_type=TaskResult).result()
    assert result.status == "rejected", result
    assert [(c.tool, c.status) for c in result.compensations] == [("apply_discount", "undone")]
    assert _rows(store, "refunds") == []
