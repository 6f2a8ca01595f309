"""The scripted model's brains, called directly: Scenario's conversation order and StoreClerk's
price and order conversations (over HTTP in test_scripted_model.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from examples.store.clerk import StoreClerk
from handrail.testing.scripted_model import Fault, Reply, Scenario, TextReply, ToolCallReply

STORE_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("lookup_price", "get_order", "final_answer", "escalate")
]
USER = {"role": "user", "content": "How much are the Trail Runner Shoes?"}


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


# --- Scenario -----------------------------------------------------------------------------------


def conversation(assistant_turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [USER]
    for turn in range(assistant_turns):
        messages.append({"role": "assistant", "content": f"turn {turn}"})
        messages.append({"role": "user", "content": "go on"})
    return {"messages": messages}


def test_scenario_indexes_by_assistant_messages_and_repeats_the_last() -> None:
    first, second, third = TextReply("one"), TextReply("two"), Fault("unavailable")
    scenario = Scenario([first, second, third])

    assert scenario(conversation(0)) is first
    assert scenario(conversation(1)) is second
    assert scenario(conversation(2)) is third
    assert scenario(conversation(7)) is third
    # The same conversation again (a retry) gets the same reply, whatever came in between.
    assert scenario(conversation(1)) is second


def test_scenario_calls_callable_entries_with_the_request() -> None:
    seen: list[dict[str, Any]] = []

    def echo(request: dict[str, Any]) -> Reply:
        seen.append(request)
        return TextReply(request["messages"][-1]["content"])

    scenario = Scenario([TextReply("opening"), echo])

    assert scenario(conversation(1)) == TextReply("go on")
    assert seen == [conversation(1)]


def test_scenario_needs_a_reply() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Scenario([])


# --- StoreClerk ---------------------------------------------------------------------------------


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
