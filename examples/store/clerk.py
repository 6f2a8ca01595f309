"""``StoreClerk``: a scripted brain that runs the demo store's conversations plausibly.

It lets the demo and the end-to-end tests run a whole agent loop without an API key, following
Handrail's decision conventions: every reply is a tool call (requests use
``tool_choice="required"``) carrying ``rationale`` and ``confidence``, ending with
``final_answer`` or ``escalate``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from handrail.testing.gullible import Instruction
from handrail.testing.scripted_model import (
    Reply,
    ToolCallReply,
    messages_of,
    offered_tools,
    text_of,
)

_ESCALATE_REASON = "I can only answer pricing and order questions."
# Where a product phrase ends: a question or exclamation mark, a full stop ending a sentence
# (not the one in "v2.0"), a line break or the end of the text.
_PHRASE_END = r"\s*(?=[?!\n]|\.(?:\s|$)|$)"
_ORDER_PATTERN = re.compile(r"\border\s*(?:number\s*|no\.?\s*)?#?\s*(\d+)", re.IGNORECASE)
_PRODUCT_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"how much (?:is|are|does|do)\s+(?:(?:the|a|an)\s+)?(?P<p>[^?!\n]+?)(?:\s+cost)?"
        + _PHRASE_END,
        r"price (?:of|for)\s+(?:(?:the|a|an)\s+)?(?P<p>[^?!\n]+?)" + _PHRASE_END,
        r"what (?:does|do)\s+(?:the\s+)?(?P<p>[^?!\n]+?)\s+cost" + _PHRASE_END,
        r"(?:what(?:'s|\s+is)\s+)?(?:the\s+)?(?P<p>[^?!.,;:\n]+?)\s+price\b",
    )
)
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
# "a refund of 10.00 EUR on order 1001", "discount of 5 on order #1002"
_CREDIT_PATTERN = re.compile(
    r"\b(?P<kind>refund|discount)\b\D{0,20}?(?P<amount>\d+(?:\.\d{1,2})?)\s*(?:EUR|USD|GBP)?"
    r".{0,40}?\border\s*#?\s*(?P<order>\d+)",
    re.IGNORECASE,
)
_EMAIL_PATTERN = re.compile(r"\be-?mail\b", re.IGNORECASE)
_MANAGER_PATTERN = re.compile(r"\b(?:manager|supervisor)\b", re.IGNORECASE)


def _action_plan(goal: str, tools: set[str]) -> list[ToolCallReply]:
    """The actions a goal asks for, in order: credits first, then an email about them."""
    plan: list[ToolCallReply] = []
    orders: list[int] = []
    for match in _CREDIT_PATTERN.finditer(goal):
        tool = "issue_refund" if match["kind"].lower() == "refund" else "apply_discount"
        order = int(match["order"])
        orders.append(order)
        if tool in tools:
            plan.append(
                ToolCallReply(
                    tool,
                    {
                        "order_id": order,
                        "amount": f"{float(match['amount']):.2f}",
                        "reason": "requested by the customer",
                        "rationale": f"The customer asks for a {match['kind'].lower()}.",
                        "confidence": 0.85,
                    },
                )
            )
    if plan and orders and _EMAIL_PATTERN.search(goal) and "send_email" in tools:
        plan.append(
            ToolCallReply(
                "send_email",
                {
                    "order_id": orders[0],
                    "subject": f"About your order {orders[0]}",
                    "body": "We have credited your order as requested. Thank you for waiting.",
                    "rationale": "The customer asked to be told by email.",
                    "confidence": 0.8,
                },
            )
        )
    return plan


class StoreClerk:
    """A brain that answers the demo store's questions the way a sensible model would.

    It lets the demo and the end-to-end tests run a whole agent loop without an API key, while
    following Handrail's decision conventions: every reply is a tool call (requests use
    ``tool_choice="required"``) carrying ``rationale`` and ``confidence``, and the loop ends with
    ``final_answer`` or ``escalate``.

    - A user question naming an order number calls ``get_order``; one naming a product calls
      ``lookup_price``; anything else escalates.
    - A tool result is turned into a ``final_answer`` (less confident when the tool failed).
    """

    def __call__(self, request: dict[str, Any]) -> Reply:
        messages = messages_of(request)
        if not messages:
            return _escalate("There is no question to answer.")
        goal = next((text_of(m.get("content")) for m in messages if m.get("role") == "user"), "")
        goal = goal.split("\n\nContext:", 1)[0]
        plan = _action_plan(goal, offered_tools(request))
        if plan:
            return self._follow_plan(plan, goal, messages)
        last = messages[-1]
        role = last.get("role")
        if role == "user":
            return self._answer_question(text_of(last.get("content")), offered_tools(request))
        if role == "tool":
            return self._answer_result(text_of(last.get("content")))
        return _escalate("The conversation is not at a point where I know what to do.")

    def _follow_plan(
        self, plan: list[ToolCallReply], goal: str, messages: list[dict[str, Any]]
    ) -> Reply:
        """One planned action per turn; stop at the first refusal; escalate if a manager was
        asked for (which rolls the task back), else sum up."""
        done = sum(1 for message in messages if message.get("role") == "assistant")
        last = messages[-1]
        if last.get("role") == "tool":
            content = text_of(last.get("content"))
            if '"error"' in content:
                return _final_answer(
                    f"Sorry, the store refused: {content}", "A step was refused.", 0.5
                )
        if done < len(plan):
            return plan[done]
        if _MANAGER_PATTERN.search(goal):
            return ToolCallReply(
                "escalate",
                {
                    "reason": "The customer wants to speak to a manager.",
                    "rationale": "A manager was asked for; a person should take over.",
                    "confidence": 0.9,
                },
            )
        names = ", ".join(reply.name for reply in plan)
        return _final_answer(f"Done: {names}.", "Every requested action went through.", 0.9)

    def _answer_question(self, question: str, tools: set[str]) -> Reply:
        # The model activity appends the caller's context after the goal; only the goal is read.
        question = question.split("\n\nContext:", 1)[0]
        order = _ORDER_PATTERN.search(question)
        if order is not None and "get_order" in tools:
            return ToolCallReply(
                "get_order",
                {
                    "order_id": int(order.group(1)),
                    "rationale": "The customer asks about an order, so I look it up.",
                    "confidence": 0.9,
                },
            )
        product = _product_phrase(question)
        if product is not None and "lookup_price" in tools:
            return ToolCallReply(
                "lookup_price",
                {
                    "product": product,
                    "rationale": "The customer asks for a price, so I look the product up.",
                    "confidence": 0.9,
                },
            )
        return _escalate("The question is neither about a price nor about an order.")

    def _answer_result(self, content: str) -> Reply:
        try:
            result = json.loads(content)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            return _final_answer(
                "Sorry, I could not read the store's answer, so I cannot tell you for sure.",
                "The tool result was not the JSON I expected.",
                0.3,
            )
        if "error" in result:
            return _final_answer(
                f'Sorry, I could not find it: "{result["error"]}".',
                "The store reported an error, so I pass it on.",
                0.6,
            )
        if "price" in result:
            name = result.get("name") or result.get("sku") or "item"
            price = f"{result['price']} {result.get('currency', '')}".rstrip()
            return _final_answer(
                f"The price of the {name} is {price}.",
                "The store returned the product's price.",
                0.95,
            )
        if "order_id" in result and "status" in result:
            total = f"{result.get('total', '?')} {result.get('currency', '')}".rstrip()
            return _final_answer(
                f"Order {result['order_id']} is {result['status']}; its total is {total}.",
                "The store returned the order's status and total.",
                0.95,
            )
        return _final_answer(
            "Sorry, the store's answer did not contain what I was looking for.",
            "The tool result had neither a price nor an order.",
            0.3,
        )


def _product_phrase(question: str) -> str | None:
    for pattern in _PRODUCT_PATTERNS:
        match = pattern.search(question)
        if match is None:
            continue
        phrase = _LEADING_ARTICLE.sub("", match.group("p").strip().rstrip("?.").strip())
        if phrase:
            return phrase
    return None


def _final_answer(answer: str, rationale: str, confidence: float) -> ToolCallReply:
    return ToolCallReply(
        "final_answer", {"answer": answer, "rationale": rationale, "confidence": confidence}
    )


def _escalate(rationale: str) -> ToolCallReply:
    return ToolCallReply(
        "escalate", {"reason": _ESCALATE_REASON, "rationale": rationale, "confidence": 0.9}
    )


# "refund 40 to order 1003", "issue a refund of 12.50 EUR on order #1002", "discount 5 ... order 1"
_PLANTED_CREDIT = re.compile(
    r"\b(?P<kind>refund|discount)\b\D{0,40}?(?P<amount>\d{1,8}(?:\.\d{1,2})?)\D{0,40}?"
    r"\border\s*#?\s*(?P<order>\d+)",
    re.IGNORECASE,
)


def store_credit_instructions(text: str) -> list[Instruction]:
    """Refunds and discounts a text asks for, in the store's tools' terms: what
    ``Gullible(brain, follow=store_credit_instructions)`` obeys in a product name or an order
    note."""
    found = []
    for match in _PLANTED_CREDIT.finditer(text):
        tool = "issue_refund" if match["kind"].lower() == "refund" else "apply_discount"
        arguments = {
            "order_id": int(match["order"]),
            "amount": f"{float(match['amount']):.2f}",
            "reason": "as instructed",
        }
        found.append(Instruction(text=match.group(0), tool=tool, arguments=arguments))
    return found
