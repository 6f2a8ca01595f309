"""StoreClerk's action plans: refunds, discounts and emails, in the order a goal asks."""

from __future__ import annotations

from typing import Any

from examples.store.clerk import StoreClerk
from handrail.testing.scripted_model import ToolCallReply

ACTION_TOOLS = [
    {"type": "function", "function": {"name": name}}
    for name in ("issue_refund", "apply_discount", "send_email", "final_answer", "escalate")
]


def _turn(goal: str, replies: list[dict[str, Any]]) -> ToolCallReply:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": goal},
    ]
    messages += replies
    reply = StoreClerk()({"messages": messages, "tools": ACTION_TOOLS})
    assert isinstance(reply, ToolCallReply)
    return reply


def _after(n: int, result: str = '{"ok": true}') -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = []
    for i in range(n):
        pairs.append({"role": "assistant", "content": None, "tool_calls": [{"id": f"c{i}"}]})
        pairs.append({"role": "tool", "tool_call_id": f"c{i}", "content": result})
    return pairs


def test_refund_then_email_then_answer() -> None:
    goal = "Please refund 12.5 EUR on order 1001 and email the customer."
    first = _turn(goal, [])
    assert first.name == "issue_refund"
    assert isinstance(first.arguments, dict)
    assert (first.arguments["order_id"], first.arguments["amount"]) == (1001, "12.50")
    assert _turn(goal, _after(1)).name == "send_email"
    final = _turn(goal, _after(2))
    assert final.name == "final_answer"
    assert isinstance(final.arguments, dict)
    assert final.arguments["answer"] == "Done: issue_refund, send_email."


def test_a_manager_request_escalates_after_the_actions() -> None:
    goal = "Give a discount of 5 on order #1002, then I want to talk to a manager."
    assert _turn(goal, []).name == "apply_discount"
    assert _turn(goal, _after(1)).name == "escalate"


def test_a_refused_step_ends_the_plan() -> None:
    goal = "Refund 500 on order 1001"
    reply = _turn(goal, _after(1, '{"error": "exceeds"}'))
    assert reply.name == "final_answer"
    assert isinstance(reply.arguments, dict)
    assert "refused" in reply.arguments["answer"]
