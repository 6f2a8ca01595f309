"""Reading a chat completion as one decision: pure code, every branch."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from examples.store.tools import STORE_TOOL_SPECS as STORE_TOOLS
from handrail.model.decision_parsing import parse_completion
from handrail.tools.spec import decision_fields, read_confidence

TOOLS = {tool.name: tool for tool in STORE_TOOLS}


def _completion(message: dict[str, Any], finish_reason: str = "stop") -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
        }
    )


def _call(name: str, arguments: object, call_id: str = "call_1") -> dict[str, Any]:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, 0.5),
        (0, 0.0),
        (1, 1.0),
        (1.01, None),
        (-0.1, None),
        (True, None),
        ("0.9", None),
        (float("nan"), None),
        (None, None),
    ],
)
def test_confidence_outside_zero_to_one_counts_as_missing(
    value: object, expected: float | None
) -> None:
    assert read_confidence(value) == expected


def test_tool_call_is_validated_and_decision_fields_stripped() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            _call("get_order", {"order_id": "1001", "rationale": "asked", "confidence": 0.8})
        ],
    }
    decision, reply = parse_completion(_completion(message), TOOLS)
    assert decision.kind == "tool_call"
    assert decision.arguments == {"order_id": 1001}  # validated by the tool's model
    assert (decision.rationale, decision.confidence) == ("asked", 0.8)
    assert (decision.tokens_in, decision.tokens_out) == (11, 3)
    assert reply["tool_calls"][0]["id"] == "call_1"


def test_only_the_first_of_several_calls_is_kept() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            _call("lookup_price", {"product": "Headlamp"}, "a"),
            _call("get_order", {"order_id": 1}, "b"),
        ],
    }
    decision, reply = parse_completion(_completion(message), TOOLS)
    assert decision.tool_call_id == "a"
    assert [call["id"] for call in reply["tool_calls"]] == ["a"]


@pytest.mark.parametrize(
    ("name", "arguments", "problem"),
    [
        ("lookup_price", "[1, 2]", "must be a JSON object"),
        ("lookup_price", "{", "not valid JSON"),
        (
            "lookup_price",
            {"product": "x", "colour": "red"},
            "colour: Extra inputs are not permitted",
        ),
        ("final_answer", {"answer": "  "}, "final_answer needs a non-empty 'answer'"),
        ("escalate", {}, "escalate needs a non-empty 'reason'"),
        (
            "refund_everything",
            {},
            "unknown tool 'refund_everything'; available: apply_discount, get_order",
        ),
    ],
)
def test_malformed_calls_are_invalid_decisions(name: str, arguments: object, problem: str) -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [_call(name, arguments)]}
    decision, _ = parse_completion(_completion(message), TOOLS)
    assert decision.kind == "invalid"
    assert decision.problem is not None
    assert problem in decision.problem


def test_escalation_carries_its_reason() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [_call("escalate", {"reason": "angry customer", "confidence": 2})],
    }
    decision, _ = parse_completion(_completion(message), TOOLS)
    assert (decision.kind, decision.answer, decision.confidence) == (
        "escalate",
        "angry customer",
        None,
    )


def test_empty_reply_is_invalid_and_text_is_an_answer() -> None:
    empty, _ = parse_completion(_completion({"role": "assistant", "content": "  "}), TOOLS)
    assert (empty.kind, empty.problem) == ("invalid", "the reply was empty")
    text, reply = parse_completion(_completion({"role": "assistant", "content": "Hi"}), TOOLS)
    assert (text.kind, text.answer, reply) == (
        "final_answer",
        "Hi",
        {"role": "assistant", "content": "Hi"},
    )


@pytest.mark.parametrize("content", ["", "  ", "I cannot help with th"])
def test_a_filtered_reply_names_the_content_filter(content: str) -> None:
    message = {"role": "assistant", "content": content}
    decision, reply = parse_completion(_completion(message, "content_filter"), TOOLS)
    assert (decision.kind, decision.problem) == (
        "invalid",
        "the provider's content filter stopped the reply",
    )
    assert reply == {"role": "assistant", "content": content}


@pytest.mark.parametrize("content", ["", "The Headlamp costs 24.0"])
def test_a_text_reply_cut_at_the_token_limit_is_not_an_answer(content: str) -> None:
    message = {"role": "assistant", "content": content}
    decision, _ = parse_completion(_completion(message, "length"), TOOLS)
    assert (decision.kind, decision.problem) == (
        "invalid",
        "the reply was cut off at the token limit (finish_reason length)",
    )


@pytest.mark.parametrize(
    ("arguments", "cause"),
    [
        ('{"product": "Head', "the arguments of lookup_price are not valid JSON"),
        ('{"rationale": "r"}', "product: Field required"),
    ],
)
def test_an_unusable_tool_call_cut_at_the_token_limit_says_so(arguments: str, cause: str) -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [_call("lookup_price", arguments)],
    }
    decision, reply = parse_completion(_completion(message, "length"), TOOLS)
    assert decision.kind == "invalid"
    assert decision.problem is not None
    prefix = "the reply was cut off at the token limit (finish_reason length): "
    assert decision.problem.startswith(prefix)
    assert cause in decision.problem
    assert reply["tool_calls"][0]["function"]["arguments"] == arguments


def test_a_complete_tool_call_is_used_whatever_the_finish_reason() -> None:
    call = _call("lookup_price", {"product": "Headlamp"})
    for finish_reason in ("length", "content_filter", "stop"):
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        decision, _ = parse_completion(_completion(message, finish_reason), TOOLS)
        assert (decision.kind, decision.arguments) == ("tool_call", {"product": "Headlamp"})


@pytest.mark.parametrize(
    ("stated", "read"),
    [
        (0.9, 0.9),
        (1, 1.0),
        (True, None),
        ("0.99", None),
        (5, None),
        (float("nan"), None),
        (None, None),
    ],
)
def test_a_framework_calls_confidence_is_read_by_the_loops_rule(
    stated: object, read: object
) -> None:
    """Both framework adapters take the decision fields off a call with ``decision_fields``: a
    hostile model's ``"confidence": true`` or ``"0.99"`` is no confidence there either."""
    arguments = {"order_id": 1, "rationale": "owed", "confidence": stated}
    own, rationale, confidence = decision_fields(arguments)
    assert own == {"order_id": 1}
    assert rationale == "owed"
    assert confidence == read
    assert arguments["confidence"] is stated  # the caller's dict is left as it was
