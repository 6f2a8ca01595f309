"""A final answer is a decision too: it passes the policy whatever form it arrives in. A plain
text reply is a final answer with no stated confidence, never an ungated one."""

from __future__ import annotations

import sqlite3

import pytest

from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.contracts import Decision, FinalAnswerRule, Profile
from handrail.policy.gate import gate_final_answer
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import (
    Reply,
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
)
from tests.review_helpers import PROFILE, WHY, refund, wait_for_pending

CLAIM = "All refunded, 1000 EUR is on its way."


def _refund_cents(settings: HandrailSettings) -> list[int]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return [row[0] for row in db.execute("SELECT amount_cents FROM refunds")]


async def _start(
    handrail: HandrailClient, server: ScriptedModelServer, replies: list[Reply], profile: str
) -> str:
    create_store(store_db_path(handrail.settings))
    server.brain = Scenario(replies)
    return (await handrail.start_task({"goal": "Sort out my orders", "profile": profile})).id


@pytest.mark.usefixtures("worker")
async def test_plain_text_after_effects_waits_for_a_reviewer(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    small = [refund(1001, "5.00"), refund(1002, "5.00"), refund(1003, "5.00")]
    task_id = await _start(handrail, model_server, [*small, TextReply(CLAIM)], PROFILE)

    pending = await wait_for_pending(handrail, task_id)
    assert (pending.step, pending.tool) == (4, "final_answer")
    assert pending.arguments == {"answer": CLAIM}
    assert pending.reason == "the task changed the world and its final answer states no confidence"

    await handrail.review(task_id, {"reviewer": "bob", "step": 4, "verdict": "reject"})
    result = await handrail.get_result(task_id)
    assert result.status == "rejected"
    assert result.answer is None
    assert [c.status for c in result.compensations] == ["undone"] * 3
    assert _refund_cents(settings) == []


@pytest.mark.usefixtures("worker")
async def test_a_reviewer_can_reword_a_final_answer(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    unsure = ToolCallReply("final_answer", {"answer": CLAIM, "rationale": "?", "confidence": 0.2})
    task_id = await _start(handrail, model_server, [refund(1001, "5.00"), unsure], PROFILE)
    pending = await wait_for_pending(handrail, task_id)
    assert pending.reason == "final answer confidence 0.20 is below 0.50"
    fixed = "We refunded 5.00 EUR on order 1001."
    await handrail.review(
        task_id,
        {"reviewer": "alice", "step": 2, "verdict": "edit", "arguments": {"answer": fixed}},
    )
    result = await handrail.get_result(task_id)
    assert (result.status, result.answer) == ("answered", fixed)
    assert _refund_cents(settings) == [500]  # committed


@pytest.mark.usefixtures("worker")
async def test_plain_text_stays_usable_for_a_read_only_task(
    handrail: HandrailClient, model_server: ScriptedModelServer
) -> None:
    # Some OpenAI-compatible servers ignore tool_choice: a plain answer to a question still ends
    # the task, gated (nothing changed, and the profile asks no confidence of answers).
    lookup = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})
    task_id = await _start(
        handrail, model_server, [lookup, TextReply("It costs 34.50 EUR.")], "store_support"
    )
    result = await handrail.get_result(task_id)
    assert (result.status, result.answer) == ("answered", "It costs 34.50 EUR.")
    gate = result.steps[-1].gate
    assert gate is not None
    assert gate.action == "auto"


def _profile(rule: FinalAnswerRule) -> Profile:
    return Profile(name="p", model="m", system_prompt="s", final_answer=rule)


@pytest.mark.parametrize(
    ("rule", "confidence", "changed", "action"),
    [
        (FinalAnswerRule(), None, False, "auto"),
        (FinalAnswerRule(), None, True, "review"),  # always, whatever the profile says
        (FinalAnswerRule(), 0.9, True, "auto"),
        (FinalAnswerRule(min_confidence=0.7), None, False, "review"),
        (FinalAnswerRule(min_confidence=0.7), 0.69, False, "review"),
        (FinalAnswerRule(min_confidence=0.7), 0.7, False, "auto"),
        (FinalAnswerRule(review_if_changed=True), 1.0, True, "review"),
        (FinalAnswerRule(review_if_changed=True), 1.0, False, "auto"),
    ],
)
def test_final_answer_gate(
    rule: FinalAnswerRule, confidence: float | None, changed: bool, action: str
) -> None:
    decision = Decision(kind="final_answer", answer="done", confidence=confidence)
    verdict = gate_final_answer(_profile(rule), decision, changed_world=changed)
    assert verdict.action == action
