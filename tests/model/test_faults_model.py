"""One test per model fault class (docs/reliability.md's table), each on a real Temporal dev server
with the real worker, the real openai client and the scripted model server injecting the fault.

Each asserts what Handrail does — retries a bounded number of times and goes on, refuses the
reply and tells the model, or escalates naming why — and that no action ran outside policy: the
store's refunds, discounts and outbox hold exactly what the allowed steps left.
"""

from __future__ import annotations

import json
import uuid

import pytest
from temporalio.client import Client

from examples.store.database import create_store, store_effects
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import TaskResult
from handrail.model.decision_parsing import CONTENT_FILTERED, CUT_OFF
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import (
    Fault,
    FaultSchedule,
    Reply,
    Scenario,
    ScriptedModelServer,
    ToolCallReply,
    messages_of,
    text_of,
)
from tests.review_helpers import PROFILE, WHY, answer, refund, wait_for_pending

ACTIONS = {"issue_refund", "apply_discount", "send_email"}
NOTHING: dict[str, list[str]] = {"discounts": [], "refunds": [], "outbox": []}
ONE_REFUND = {**NOTHING, "refunds": ["order 1001: 5.00 EUR"]}


async def _run(handrail: HandrailClient, goal: str, profile: str = PROFILE) -> TaskResult:
    create_store(store_db_path(handrail.settings))
    handle = await handrail.start_task({"goal": goal, "profile": profile})
    return await handrail.get_result(handle.id)


def _effects(settings: HandrailSettings, result: TaskResult) -> dict[str, list[str]]:
    """What the task left in the store, after checking that every action that ran was one the
    policy let run on its own (none of these tests approves anything)."""
    for step in result.steps:
        if step.outcome is not None and step.decision.tool in ACTIONS:
            assert step.gate is not None
            assert step.gate.action == "auto", step
    return store_effects(store_db_path(settings), [result.task_id])


def _told(server: ScriptedModelServer, goal: str) -> list[str]:
    """The errors Handrail sent back to the model in the conversation of ``goal``."""
    told: list[str] = []
    last = [
        r for r in server.requests if any(goal in text_of(m.get("content")) for m in messages_of(r))
    ]
    for message in messages_of(last[-1]) if last else []:
        if message.get("role") in ("tool", "user"):
            try:
                told.append(json.loads(text_of(message.get("content")))["error"])
            except (ValueError, TypeError, KeyError):
                continue  # the goal, or a tool's result
    return told


def _goal(text: str) -> str:
    # Unique per test: the session's server records every request, the test reads its own.
    return f"{text} [{uuid.uuid4().hex[:8]}]"


# --- Transient: a bounded retry, then the task goes on ---------------------------------------


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(
    "fault",
    [
        Fault("rate_limited", retry_after="0"),
        Fault("rate_limited"),
        Fault("server_error"),
        Fault("unavailable"),
        Fault("reset"),
        Fault("not_json"),
    ],
    ids=lambda fault: f"{fault.kind}{'' if fault.retry_after is None else '-retry-after'}",
)
async def test_a_transient_fault_is_retried_then_the_task_goes_on(
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    settings: HandrailSettings,
    fault: Fault,
) -> None:
    # Two faults on the decision after a refund: the retries must neither lose nor repeat it.
    scenario = Scenario([refund(1001, "5.00"), answer("Refunded 5.00 EUR.")])
    model_server.brain = schedule = FaultSchedule(scenario, at={2: fault, 3: fault})

    result = await _run(handrail, _goal("Refund 5 on order 1001"))

    assert (result.status, result.answer) == ("answered", "Refunded 5.00 EUR.")
    assert [step.decision.attempt for step in result.steps] == [1, 3]
    assert schedule.injected == [(2, fault), (3, fault)]
    assert _effects(settings, result) == ONE_REFUND


async def test_a_hang_past_the_client_timeout_is_retried(
    client: Client,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    settings: HandrailSettings,
) -> None:
    # The client's own timeout (llm_timeout_seconds) ends the wait long before the activity's
    # start-to-close, as a retryable LlmUnavailable: one second here, instead of minutes.
    impatient = settings.model_copy(update={"llm_timeout_seconds": 1.0})
    scenario = Scenario([refund(1001, "5.00"), answer("Refunded 5.00 EUR.")])
    model_server.brain = FaultSchedule(scenario, at={2: Fault("hang", seconds=20)})
    create_store(store_db_path(settings))

    async with running_worker(client, impatient):
        result = await _run(handrail, _goal("Refund 5 on order 1001"))

    assert result.status == "answered"
    assert [step.decision.attempt for step in result.steps] == [1, 2]
    assert _effects(settings, result) == ONE_REFUND


# --- Unusable replies: refused, the model is told, the task goes on ------------------------


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Fault("empty_choices"), "the model sent no choices"),
        (Fault("content_filter"), CONTENT_FILTERED),
        (Fault("length"), CUT_OFF),
        (Fault("unknown_tool"), "unknown tool 'delete_all_orders'; available: apply_discount, "),
        (
            Fault("arguments_not_json", tool="issue_refund"),
            "the arguments of issue_refund are not valid JSON",
        ),
        (
            Fault("arguments_off_schema", tool="issue_refund"),
            "invalid arguments for issue_refund: ",
        ),
    ],
    ids=lambda value: value.kind if isinstance(value, Fault) else "",
)
async def test_an_unusable_reply_is_refused_and_the_model_told(
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    settings: HandrailSettings,
    fault: Fault,
    problem: str,
) -> None:
    goal = _goal("Refund 5 on order 1001")
    model_server.brain = Scenario([refund(1001, "5.00"), fault, answer("Refunded 5.00 EUR.")])

    result = await _run(handrail, goal)

    assert result.status == "answered"
    refused = result.steps[1]
    assert refused.decision.kind == "invalid"
    assert refused.decision.problem is not None
    assert refused.decision.problem.startswith(problem)
    assert refused.note == f"refused: {refused.decision.problem}"
    assert refused.decision.problem in _told(model_server, goal)
    assert _effects(settings, result) == ONE_REFUND  # the faulty call ran nothing


@pytest.mark.usefixtures("worker")
async def test_unusable_replies_in_a_row_escalate_and_roll_back(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    faults: list[Reply] = [
        Fault("content_filter"),
        Fault("empty_choices"),
        Fault("arguments_off_schema", tool="issue_refund"),
    ]
    model_server.brain = Scenario([refund(1001, "5.00"), *faults, answer()])

    result = await _run(handrail, _goal("Refund 5 on order 1001"))

    assert result.status == "escalated"
    assert len(result.steps) == 4
    trace = await handrail.get_trace(result.task_id)
    assert trace.error is not None
    assert trace.error.startswith("3 refused steps in a row (max_consecutive_refusals = 3)")
    assert "invalid arguments for issue_refund" in trace.error
    assert [c.status for c in result.compensations] == ["undone"]
    assert _effects(settings, result) == NOTHING


# --- A plain-text reply is a final answer, gated --------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_a_plain_text_reply_after_an_action_waits_for_a_reviewer(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    model_server.brain = Scenario([refund(1001, "5.00"), Fault("plain_text")])
    create_store(store_db_path(settings))
    handle = await handrail.start_task(
        {"goal": _goal("Refund 5 on order 1001"), "profile": PROFILE}
    )

    pending = await wait_for_pending(handrail, handle.id)
    assert (pending.step, pending.tool) == (2, "final_answer")
    assert pending.reason == "the task changed the world and its final answer states no confidence"
    await handrail.review(handle.id, {"reviewer": "bob", "step": 2, "verdict": "reject"})

    result = await handrail.get_result(handle.id)
    assert result.status == "rejected"
    assert [c.status for c in result.compensations] == ["undone"]
    assert _effects(settings, result) == NOTHING


# --- An endless tool loop ends at a limit ----------------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_an_endless_lookup_loop_ends_at_the_step_budget(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    lookup = ToolCallReply("get_order", {"order_id": 1001, **WHY})
    model_server.brain = Scenario([lookup, Fault("tool_loop")])

    result = await _run(handrail, _goal("Where is order 1001?"), "store_support")

    assert result.status == "budget_exhausted"
    assert [step.decision.tool for step in result.steps] == ["get_order"] * 6  # max_steps
    trace = await handrail.get_trace(result.task_id)
    assert trace.error == "step budget spent: 6 steps"
    assert _effects(settings, result) == NOTHING


@pytest.mark.usefixtures("worker")
async def test_an_endless_refund_loop_is_stopped_by_the_task_limit(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    # Order 1003 (308.95 USD) has room for every refund: only the policy can stop the loop.
    model_server.brain = Scenario([refund(1003, "50.00"), Fault("tool_loop")])

    result = await _run(handrail, _goal("Refund 50 on order 1003"))

    assert result.status == "escalated"
    gates = [step.gate.action if step.gate else None for step in result.steps]
    assert gates == ["auto"] * 4 + ["deny"] * 3  # 4 x 50 is the task limit of 200
    trace = await handrail.get_trace(result.task_id)
    assert trace.error is not None
    assert trace.error.startswith("3 refused steps in a row")
    assert "would bring this task's total to 250.00, above its limit of 200" in trace.error
    assert [c.status for c in result.compensations] == ["undone"] * 4
    assert _effects(settings, result) == NOTHING
