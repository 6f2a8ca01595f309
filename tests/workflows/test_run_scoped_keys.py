"""A workflow id reused after its run closed is a new task run: it neither inherits nor undoes an
earlier run's effects (Temporal's default id reuse policy allows reuse; the README's CLI example
uses a fixed ``--workflow-id``)."""

from __future__ import annotations

import sqlite3
import uuid

from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.contracts import AgentTask, TaskResult
from handrail.names import WORKFLOW_TYPE
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from tests.review_helpers import PROFILE, WHY, answer, refund


async def _run_under(
    client: Client,
    settings: HandrailSettings,
    workflow_id: str,
    server: ScriptedModelServer,
    replies: list[Reply],
) -> TaskResult:
    server.brain = Scenario(replies)
    # Started as a foreign client would (the CLI, another SDK): default id reuse policy.
    handle = await client.start_workflow(
        WORKFLOW_TYPE,
        AgentTask(goal="Refund order 1001", profile=PROFILE),
        id=workflow_id,
        task_queue=settings.task_queue,
        result_type=TaskResult,
    )
    result: TaskResult = await handle.result()
    return result


async def test_a_reused_workflow_id_neither_inherits_nor_undoes_earlier_effects(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    create_store(store_db_path(settings))
    workflow_id = f"order-1001-{uuid.uuid4().hex[:6]}"
    escalate = ToolCallReply("escalate", {"reason": "a manager, please", **WHY})
    async with running_worker(client, settings):
        first = await _run_under(
            client, settings, workflow_id, model_server, [refund(1001, "10.00"), answer()]
        )
        second = await _run_under(
            client, settings, workflow_id, model_server, [refund(1001, "7.00"), answer()]
        )
        third = await _run_under(
            client, settings, workflow_id, model_server, [refund(1001, "3.00"), escalate]
        )

    assert (first.status, second.status, third.status) == ("answered", "answered", "escalated")
    with sqlite3.connect(store_db_path(settings)) as db:
        refunds = db.execute("SELECT amount_cents, idempotency_key FROM refunds").fetchall()
    # The second run acted itself (it did not receive the first run's result without acting),
    # and the third run's rollback undid its own refund only, never the committed ones.
    assert sorted(amount for amount, _ in refunds) == [700, 1000]
    second_outcome = second.steps[0].outcome
    assert second_outcome is not None
    assert second_outcome.result["amount"] == "7.00"
    assert [c.status for c in third.compensations] == ["undone"]
    keys = {key for _, key in refunds}
    assert len(keys) == 2
    assert all(key.startswith(f"{workflow_id}/") for key in keys)
