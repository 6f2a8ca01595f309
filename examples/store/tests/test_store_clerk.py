"""StoreClerk, the store's scripted brain, called directly: its price and order conversations,
and its action plans (refunds, discounts and emails, in the order a goal asks)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from examples.store.clerk import StoreClerk
from handrail.testing.scripted_model import Reply, ToolCallReply

STORE_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("lookup_price", "get_order", "final_answer", "escalate")
]
USER = {"role": "user", "content": "How much are the Trail Runner Shoes?"}

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


def clerk(messages: list[dict[str, Any]], tools: list[dict[str, Any]] = STORE_TOOLS) -> Reply:
    return StoreClerk()({"model": "m", "messages": messages, "tools": tools})


def after_tool(result: object) -> list[dict[str, Any]]:
    """A conversation whose last message is a tool result with ``result`` as its content."""
    content = result if isinstance(result, str) else json.dumps(result)
    return [
        {"role": "system", "content": "You are a store clerk."},
        USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_price", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": content},
    ]


# --- Prices and orders ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "product"),
    [
        ("How much are the Trail Runner Shoes?", "Trail Runner Shoes"),
        ("how much does a trail runner cost?", "trail runner"),
        ("What is the price of the Coffee Mug?", "Coffee Mug"),
        ("What does the Coffee Mug cost?", "Coffee Mug"),
        ("Trail Runner Shoes price?", "Trail Runner Shoes"),
        ("Hi! How much is the Mug v2.0? Thanks.", "Mug v2.0"),
        ('How much are the socks?\n\nContext: {"customer": 7}', "socks"),
    ],
)
def test_store_clerk_looks_up_a_price(question: str, product: str) -> None:
    reply = clerk(
        [{"role": "system", "content": "Be helpful."}, {"role": "user", "content": question}]
    )

    assert isinstance(reply, ToolCallReply)
    assert reply.name == "lookup_price"
    assert isinstance(reply.arguments, dict)
    assert reply.arguments["product"] == product
    assert isinstance(reply.arguments["rationale"], str)
    assert reply.arguments["rationale"]
    assert 0 < reply.arguments["confidence"] <= 1


@pytest.mark.parametrize("question", ["Where is order 1001?", "Has order #1001 shipped?"])
def test_store_clerk_looks_up_an_order(question: str) -> None:
    reply = clerk([{"role": "user", "content": question}])

    assert isinstance(reply, ToolCallReply)
    assert reply.name == "get_order"
    assert isinstance(reply.arguments, dict)
    assert reply.arguments["order_id"] == 1001
    assert reply.arguments["confidence"] == pytest.approx(0.9)


def test_store_clerk_only_calls_tools_it_is_offered() -> None:
    price_only = [t for t in STORE_TOOLS if t["function"]["name"] != "get_order"]

    reply = clerk([{"role": "user", "content": "Where is order 1001?"}], price_only)

    assert isinstance(reply, ToolCallReply)
    assert reply.name == "escalate"


@pytest.mark.parametrize("question", ["Tell me a joke.", "Can I return my shoes?"])
def test_store_clerk_escalates_what_it_cannot_answer(question: str) -> None:
    reply = clerk([{"role": "user", "content": question}])

    assert reply == ToolCallReply(
        "escalate",
        {
            "reason": "I can only answer pricing and order questions.",
            "rationale": "The question is neither about a price nor about an order.",
            "confidence": 0.9,
        },
    )


def test_store_clerk_answers_a_price() -> None:
    price = {"sku": "TRAIL-RUN", "name": "Trail Runner Shoes", "price": "89.99", "currency": "EUR"}

    reply = clerk(after_tool(price))

    assert isinstance(reply, ToolCallReply)
    assert reply.name == "final_answer"
    assert isinstance(reply.arguments, dict)
    assert reply.arguments["answer"] == "The price of the Trail Runner Shoes is 89.99 EUR."
    assert reply.arguments["confidence"] == pytest.approx(0.95)


def test_store_clerk_answers_an_order() -> None:
    order = {
        "order_id": 1001,
        "status": "shipped",
        "total": "104.49",
        "currency": "EUR",
        "items": [{"name": "Trail Runner Shoes", "quantity": 1, "unit_price": "89.99"}],
    }

    reply = clerk(after_tool(order))

    assert isinstance(reply, ToolCallReply)
    assert isinstance(reply.arguments, dict)
    assert reply.name == "final_answer"
    assert reply.arguments["answer"] == "Order 1001 is shipped; its total is 104.49 EUR."


def test_store_clerk_passes_on_a_tool_error() -> None:
    reply = clerk(after_tool({"error": "no product matches 'unicorn'"}))

    assert isinstance(reply, ToolCallReply)
    assert isinstance(reply.arguments, dict)
    assert reply.name == "final_answer"
    assert "could not find" in reply.arguments["answer"]
    assert "no product matches 'unicorn'" in reply.arguments["answer"]
    assert reply.arguments["confidence"] == pytest.approx(0.6)


def test_store_clerk_apologises_for_a_result_it_cannot_read() -> None:
    reply = clerk(after_tool("<html>502 Bad Gateway</html>"))

    assert isinstance(reply, ToolCallReply)
    assert isinstance(reply.arguments, dict)
    assert reply.name == "final_answer"
    assert "Sorry" in reply.arguments["answer"]
    assert reply.arguments["confidence"] < 0.6


@pytest.mark.parametrize(
    "messages",
    [[], [{"role": "system", "content": "hi"}], [USER, {"role": "assistant", "content": "hm"}]],
)
def test_store_clerk_escalates_other_shapes(messages: list[dict[str, Any]]) -> None:
    reply = clerk(messages)

    assert isinstance(reply, ToolCallReply)
    assert reply.name == "escalate"
