"""Turning a chat completion into a ``Decision``: pure code, no I/O.

Every reply is read as one decision. A malformed one (an unknown tool, arguments that are not
JSON or fail the tool's schema, an empty reply, a reply the provider stopped early) becomes an
``invalid`` decision that says what was wrong, so the workflow can tell the model and go on
instead of crashing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from openai.types.chat import ChatCompletion

from handrail.contracts import Decision
from handrail.names import ESCALATE_TOOL, FINAL_ANSWER_TOOL
from handrail.tools import ToolSpec, function_schema
from handrail.tools.spec import decision_fields

FINAL_ANSWER = FINAL_ANSWER_TOOL
ESCALATE = ESCALATE_TOOL

CONTROL_TOOLS: list[dict[str, Any]] = [
    function_schema(
        FINAL_ANSWER,
        "Give your final answer to the person who asked. Use only facts your tools returned.",
        {"properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    ),
    function_schema(
        ESCALATE,
        "Hand the conversation to a human when you cannot or should not answer.",
        {"properties": {"reason": {"type": "string"}}, "required": ["reason"]},
    ),
]

Message = dict[str, Any]

CONTENT_FILTERED = "the provider's content filter stopped the reply"
CUT_OFF = "the reply was cut off at the token limit (finish_reason length)"


def logprob_confidence(choice: object) -> float | None:
    """The reply's mean token probability, exp(mean token log-probability), when the endpoint
    sent token log-probabilities (``choice.logprobs.content``); None when it sent none.

    Why the mean and not the minimum: a reply is mostly its free-text rationale, and one
    unlikely word there says little about the action; the mean, normalised by length, compares
    replies of different lengths. Read defensively (the client does not validate bodies): a
    token whose log-probability is not a finite number <= 0 is left out.
    """
    logprobs = getattr(choice, "logprobs", None)
    tokens = getattr(logprobs, "content", None)
    if not isinstance(tokens, list):
        return None
    values = []
    for token in tokens:
        value: object = getattr(token, "logprob", None)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value) and value <= 0:
            values.append(float(value))
    return math.exp(sum(values) / len(values)) if values else None


def parse_completion(
    completion: ChatCompletion, tools: Mapping[str, ToolSpec]
) -> tuple[Decision, Message]:
    """The decision in ``completion`` and the assistant message to keep in the conversation."""
    usage = completion.usage
    common: dict[str, Any] = {
        "model": completion.model,
        "tokens_in": usage.prompt_tokens if usage else 0,
        "tokens_out": usage.completion_tokens if usage else 0,
    }
    if not completion.choices:
        return Decision(kind="invalid", problem="the model sent no choices", **common), {
            "role": "assistant",
            "content": "",
        }
    choice = completion.choices[0]
    common["logprob_confidence"] = logprob_confidence(choice)
    message = choice.message
    calls = [call for call in message.tool_calls or [] if call.type == "function"]
    if not calls:
        text = (message.content or "").strip()
        reply: Message = {"role": "assistant", "content": message.content or ""}
        # Text the provider stopped early is not an answer, however plausible its start reads.
        if choice.finish_reason == "content_filter":
            return Decision(kind="invalid", problem=CONTENT_FILTERED, **common), reply
        if choice.finish_reason == "length":
            return Decision(kind="invalid", problem=CUT_OFF, **common), reply
        if not text:
            return Decision(kind="invalid", problem="the reply was empty", **common), reply
        # A plain-text reply is an answer without a stated confidence: the policy reads that as low.
        return Decision(kind="final_answer", answer=text, **common), reply

    # Only the first call is acted on; the kept message holds just that call so that the
    # conversation stays valid (every tool call in it gets exactly one tool message back).
    call = calls[0]
    reply = {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
        ],
    }
    common["tool"] = call.function.name
    common["tool_call_id"] = call.id
    decision = _decide_call(call.function.name, call.function.arguments, tools, common)
    # A complete call is used whatever the finish reason; an unusable one at the token limit was
    # most likely cut short, which is the thing to tell the model (ask for less), not its syntax.
    if decision.kind == "invalid" and choice.finish_reason == "length":
        decision = decision.model_copy(update={"problem": f"{CUT_OFF}: {decision.problem}"})
    return decision, reply


def _decide_call(
    name: str, raw_arguments: str, tools: Mapping[str, ToolSpec], common: dict[str, Any]
) -> Decision:
    try:
        arguments = json.loads(raw_arguments or "{}")
    except json.JSONDecodeError as error:
        return Decision(
            kind="invalid", problem=f"the arguments of {name} are not valid JSON: {error}", **common
        )
    if not isinstance(arguments, dict):
        return Decision(
            kind="invalid", problem=f"the arguments of {name} must be a JSON object", **common
        )
    arguments, common["rationale"], common["confidence"] = decision_fields(arguments)

    if name in (FINAL_ANSWER, ESCALATE):
        field = "answer" if name == FINAL_ANSWER else "reason"
        text = arguments.get(field)
        if not isinstance(text, str) or not text.strip():
            return Decision(kind="invalid", problem=f"{name} needs a non-empty {field!r}", **common)
        kind = "final_answer" if name == FINAL_ANSWER else "escalate"
        return Decision(kind=kind, answer=text.strip(), **common)

    spec = tools.get(name)
    if spec is None:
        available = ", ".join([*sorted(tools), FINAL_ANSWER, ESCALATE])
        return Decision(
            kind="invalid", problem=f"unknown tool {name!r}; available: {available}", **common
        )
    try:
        validated = spec.validate_arguments(arguments)
    except ValueError as error:
        return Decision(kind="invalid", problem=str(error), arguments=arguments, **common)
    return Decision(kind="tool_call", arguments=validated, **common)
