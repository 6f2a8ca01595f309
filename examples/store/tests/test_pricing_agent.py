"""The pricing agent end to end: real dev server, real worker, scripted model over real HTTP,
real SQLite store."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from examples.store.settings import store_db_path
from examples.store.tests.helpers import TEST_API_KEY, history_text
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply

pytestmark = pytest.mark.usefixtures("worker")


def _set_price(settings: HandrailSettings, sku: str, cents: int) -> None:
    with sqlite3.connect(store_db_path(settings)) as db:
        db.execute("UPDATE products SET price_cents = ? WHERE sku = ?", (cents, sku))


async def test_answers_a_price_question_from_the_database(
    handrail: HandrailClient, settings: HandrailSettings
) -> None:
    # A price no script could know: the answer must come from the database through the tool.
    _set_price(settings, "TRAIL-RUN", 7731)
    handle = await handrail.start_task({"goal": "How much are the Trail Runner Shoes?"})
    result = await handrail.get_result(handle.id)

    assert result.status == "answered"
    assert result.answer is not None
    assert "77.31 EUR" in result.answer
    assert [step.decision.kind for step in result.steps] == ["tool_call", "final_answer"]
    lookup = result.steps[0]
    assert lookup.decision.tool == "lookup_price"
    assert lookup.decision.arguments == {"product": "Trail Runner Shoes"}
    assert lookup.decision.confidence is not None
    assert 0 <= lookup.decision.confidence <= 1
    assert lookup.decision.rationale
    assert lookup.outcome is not None
    assert lookup.outcome.ok
    assert lookup.outcome.result["price"] == "77.31"
    assert result.tokens_in > 0
    assert result.tokens_out > 0
    assert all(step.decision.latency_ms > 0 for step in result.steps)


async def test_trace_query_shows_the_decision_path(handrail: HandrailClient) -> None:
    handle = await handrail.start_task({"goal": "What is the status of order 1001?"})
    result = await handrail.get_result(handle.id)
    trace = await handrail.get_trace(handle.id)

    assert trace.status == "answered" == result.status
    assert trace.goal == "What is the status of order 1001?"
    assert [(s.decision.kind, s.decision.tool) for s in trace.steps] == [
        ("tool_call", "get_order"),
        ("final_answer", "final_answer"),
    ]
    assert trace.steps[0].outcome is not None
    assert trace.steps[0].outcome.result["status"] == "shipped"
    assert trace.steps[0].outcome.result["total"] == "104.49"
    assert trace.answer == result.answer


async def test_unknown_product_is_answered_honestly(handrail: HandrailClient) -> None:
    handle = await handrail.start_task({"goal": "How much is the Jetpack?"})
    result = await handrail.get_result(handle.id)
    assert result.status == "answered"
    outcome = result.steps[0].outcome
    assert outcome is not None
    assert not outcome.ok
    assert outcome.error == "no product matches 'Jetpack'"


async def test_malformed_tool_calls_become_decisions_the_model_is_told_about(
    handrail: HandrailClient, model_server: ScriptedModelServer
) -> None:
    why = {"rationale": "testing", "confidence": 0.9}
    model_server.brain = Scenario(
        [
            ToolCallReply("delete_everything", {"really": True, **why}),
            ToolCallReply("lookup_price", '{"product": "Rain Jacket"'),  # not JSON
            # A third refusal in a row would escalate (max_consecutive_refusals): a good step
            # in between resets the count.
            ToolCallReply("lookup_price", {"product": "Rain Jacket", **why}),
            ToolCallReply("lookup_price", {"product": 42, **why}),  # fails the schema
            ToolCallReply("final_answer", {"answer": "129.00 EUR", **why}),
        ]
    )
    handle = await handrail.start_task({"goal": "Rain Jacket price?"})
    result = await handrail.get_result(handle.id)

    kinds = [step.decision.kind for step in result.steps]
    assert kinds == ["invalid", "invalid", "tool_call", "invalid", "final_answer"]
    problems = [step.decision.problem or "" for step in result.steps if step.decision.problem]
    assert "unknown tool 'delete_everything'" in problems[0]
    assert "not valid JSON" in problems[1]
    assert "product" in problems[2]
    assert "string" in problems[2]
    assert result.status == "answered"

    # The model was told each problem, as the tool message answering its own call.
    conversation = [
        r for r in model_server.requests if r["messages"][1]["content"] == "Rain Jacket price?"
    ]
    last = conversation[-1]["messages"]
    tool_messages = [m for m in last if m["role"] == "tool"]
    assert len(tool_messages) == 4
    assert "unknown tool" in json.loads(tool_messages[0]["content"])["error"]
    assert json.loads(tool_messages[2]["content"])["price"] == "129.00"
    assert "product" in json.loads(tool_messages[3]["content"])["error"]


async def test_step_budget_ends_the_task(
    handrail: HandrailClient, model_server: ScriptedModelServer
) -> None:
    model_server.brain = Scenario(
        [ToolCallReply("lookup_price", {"product": "Headlamp", "rationale": "r", "confidence": 1})]
    )
    handle = await handrail.start_task({"goal": "Loop forever"})
    result = await handrail.get_result(handle.id)
    assert result.status == "budget_exhausted"
    assert len(result.steps) == 6  # store_support.toml: max_steps = 6
    assert result.answer is None


async def test_same_task_id_runs_once(handrail: HandrailClient, client: Client) -> None:
    task_id = f"order-question-{uuid.uuid4().hex[:8]}"
    task = {"goal": "How much is the Headlamp?", "task_id": task_id}
    first = await handrail.start_task(task)
    await handrail.get_result(task_id)
    second = await handrail.start_task(task)  # after completion: still the same run
    assert second.id == first.id == task_id
    runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{task_id}'")]
    assert len(runs) == 1


async def test_no_secret_and_no_conversation_in_history(
    handrail: HandrailClient, client: Client, worker: Worker
) -> None:
    handle = await handrail.start_task({"goal": "How much is the Water Bottle?"})
    await handrail.get_result(handle.id)
    history = history_text(await client.get_workflow_handle(handle.id).fetch_history())
    assert TEST_API_KEY not in history
    assert "Water Bottle" in history  # the check can see payloads at all
    # The system prompt is in history twice: the recorded profile and step 0's opening. The
    # second decide (and any later one) does not re-send the conversation.
    assert history.count("support agent of an online outdoor store") == 2
