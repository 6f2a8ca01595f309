"""The governor hosted by a workflow Handrail did not write: the same gate, review, effects,
rollback and ledger as AgentWorkflow, through the same handlers (real dev server, real store)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail import search_attributes as sa
from handrail.client.core import HandrailClient
from handrail.contracts import TaskResult
from handrail.settings import HandrailSettings
from tests.governance.histories import keep
from tests.governance.scripted_host import (
    HOST_WORKFLOW,
    ProposedCall,
    ScriptedGovernedAgent,
    scripted_task,
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
    """The store, and tasks started as the scripted host (``HANDRAIL_WORKFLOW``)."""
    create_store(store_db_path(settings))
    return settings.model_copy(update={"workflow": HOST_WORKFLOW})


def _rows(settings: HandrailSettings, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


async def _start(handrail: HandrailClient, calls: list[ProposedCall]) -> str:
    handle = await handrail.start_task(scripted_task(calls, PROFILE))
    return handle.id


async def test_a_read_runs_unreviewed_and_a_large_refund_waits_for_a_person(
    client: Client, store: HandrailSettings
) -> None:
    handrail = HandrailClient(client, store)
    async with running_worker(client, store, workflows=[ScriptedGovernedAgent]):
        task_id = await _start(handrail, [PRICE, BIG_REFUND])
        pending = await wait_for_pending(handrail, task_id)
        assert (pending.step, pending.tool) == (2, "issue_refund")
        listed = [task for task, _ in await handrail.pending_reviews(task_queue=store.task_queue)]
        assert task_id in listed
        described = await client.get_workflow_handle(task_id).describe()
        shown = described.typed_search_attributes
        assert described.workflow_type == HOST_WORKFLOW
        assert shown.get(sa.PROFILE) == PROFILE
        assert shown.get(sa.STATUS) == "awaiting_review"
        assert shown.get(sa.REVIEW_TOOL) == "issue_refund"
        assert _rows(store, "refunds") == []  # nothing ran before the approval
        await handrail.review(task_id, {"reviewer": "alice", "step": 2, "verdict": "approve"})
        # The answer follows an action that changed the world and states no confidence.
        answer = await wait_for_pending(handrail, task_id, timeout=30)
        assert answer.tool == "final_answer"
        await handrail.review(task_id, {"reviewer": "alice", "step": 3, "verdict": "approve"})
        handle = client.get_workflow_handle(task_id, result_type=TaskResult)
        result = await handle.result()
        await keep("scripted_approved", handle)
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
        task_id = await _start(handrail, [DISCOUNT, BIG_REFUND])
        await wait_for_pending(handrail, task_id)
        await handrail.review(task_id, {"reviewer": "alice", "step": 2, "verdict": "reject"})
        handle = client.get_workflow_handle(task_id, result_type=TaskResult)
        result = await handle.result()
        await keep("scripted_rejected", handle)
    assert result.status == "rejected", result
    assert [(c.tool, c.status) for c in result.compensations] == [("apply_discount", "undone")]
    assert _rows(store, "refunds") == []
