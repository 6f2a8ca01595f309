"""Fuzz: whatever an endpoint answers with HTTP 200, the model adapter returns a decision or
raises one of the classified ``ApplicationError`` types — never anything else, which would fail
the ``decide`` activity with an unclassified error and be retried to the end of its policy.

Replies go through the real stack: the openai client (over an ``httpx2.MockTransport``), its
own lenient parse, ``read_completion`` and ``parse_completion`` inside ``OpenAIChatModel``,
run in an activity context by ``ActivityEnvironment``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openai import AsyncOpenAI
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from examples.store.tools import STORE_TOOL_SPECS
from handrail.contracts import Decision
from handrail.errors import ErrorType
from handrail.model.adapter import ModelRequest
from handrail.model.openai_chat import OpenAIChatModel
from handrail.names import ESCALATE_TOOL, FINAL_ANSWER_TOOL
from tests.strategies import json_values

TOOLS = {spec.name: spec for spec in STORE_TOOL_SPECS}
KEY = "sk-fuzz-" + "0123456789abcdef"
CLASSIFIED = {
    value for name, value in vars(ErrorType).items() if name.isupper() and isinstance(value, str)
}
FUZZ = settings(
    max_examples=200,
    deadline=None,
    # One client and transport serve every example (building them per example would be most of
    # the run time); the body it answers with is set per example.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# --- strategies -----------------------------------------------------------------------------

confidences = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-5, 5)
    | st.booleans()
    | st.none()
    | st.text(max_size=6)
    | st.sampled_from(["0.9", "NaN", "Infinity", "1e309"])
    | json_values
)
tool_names = st.sampled_from([*TOOLS, FINAL_ANSWER_TOOL, ESCALATE_TOOL]) | st.text(max_size=16)
finish_reasons = st.sampled_from(
    ["stop", "tool_calls", "length", "content_filter", "function_call"]
) | st.text(max_size=12)


@st.composite
def argument_texts(draw: st.DrawFn) -> str:
    """A tool call's ``arguments`` string: a JSON object with a field or two the tools know,
    the control fields, random extras; or JSON that is not an object; or not JSON at all."""
    shape = draw(st.sampled_from(["object", "other json", "not json"]))
    if shape == "not json":
        return draw(st.text(max_size=30))
    if shape == "other json":
        return json.dumps(draw(json_values))
    known = ["order_id", "amount", "reason", "product", "subject", "body", "answer", "customer_id"]
    arguments = draw(st.dictionaries(st.sampled_from(known) | st.text(max_size=8), json_values))
    if draw(st.booleans()):
        arguments["confidence"] = draw(confidences)
    if draw(st.booleans()):
        arguments["rationale"] = draw(json_values)
    if draw(st.booleans()):
        arguments["answer"] = draw(st.text(max_size=20))
    return json.dumps(arguments)  # NaN and Infinity as Python writes them, as a sloppy server


@st.composite
def tool_call(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "id": draw(st.text(max_size=8)),
        "type": draw(st.sampled_from(["function", "function", "custom"])),
        "function": {"name": draw(tool_names), "arguments": draw(argument_texts())},
    }


@st.composite
def well_formed(draw: st.DrawFn) -> dict[str, Any]:
    """A completion of the right shape with random content: the classes of reply a model
    really sends."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": draw(st.none() | st.text(max_size=30)),
    }
    if draw(st.booleans()):
        message["tool_calls"] = draw(st.lists(tool_call(), max_size=3))
    choices = [
        {"index": 0, "finish_reason": draw(finish_reasons), "message": message},
        *draw(
            st.lists(st.just({"index": 1, "finish_reason": "stop", "message": message}), max_size=1)
        ),
    ]
    body: dict[str, Any] = {
        "id": "chatcmpl-fuzz",
        "object": "chat.completion",
        "created": 0,
        "model": draw(st.text(max_size=10)),
        "choices": draw(st.sampled_from([choices, choices[:1], []])),
    }
    if draw(st.booleans()):
        body["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return body


@st.composite
def misshapen(draw: st.DrawFn) -> Any:
    """A well-formed completion with one part replaced by any JSON value: what a broken proxy,
    a gateway's error page in JSON, or a half-compatible server may send."""
    body = draw(well_formed())
    body["choices"] = body["choices"] or [{"index": 0, "finish_reason": "stop", "message": {}}]
    message = body["choices"][0]["message"]
    message.setdefault("tool_calls", [{"id": "c", "type": "function", "function": {}}])
    message["tool_calls"] = message["tool_calls"] or [
        {"id": "c", "type": "function", "function": {}}
    ]
    call = message["tool_calls"][0]
    places: dict[str, tuple[Any, Any]] = {
        "body": (None, None),
        "choices": (body, "choices"),
        "choice": (body["choices"], 0),
        "message": (body["choices"][0], "message"),
        "content": (message, "content"),
        "tool_calls": (message, "tool_calls"),
        "tool_call": (message["tool_calls"], 0),
        "type": (call, "type"),
        "function": (call, "function"),
        "name": (call.setdefault("function", {}), "name"),
        "arguments": (call["function"], "arguments"),
        "usage": (body, "usage"),
        "model": (body, "model"),
        "finish_reason": (body["choices"][0], "finish_reason"),
    }
    place = draw(st.sampled_from(sorted(places)))
    value = draw(json_values)
    if place == "body":
        return value
    container, key = places[place]
    container[key] = value
    return body


bodies = (
    well_formed().map(lambda body: json.dumps(body).encode())
    | misshapen().map(lambda body: json.dumps(body).encode())
    | st.binary(max_size=40)
    | st.text(max_size=40).map(str.encode)
)

# --- the adapter, on a transport that answers with the example's body -------------------------


class Endpoint:
    def __init__(self) -> None:
        self.body = b""

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=self.body, headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def endpoint() -> Endpoint:
    return Endpoint()


@pytest.fixture(scope="module")
def model(endpoint: Endpoint) -> OpenAIChatModel:
    client = AsyncOpenAI(
        api_key=KEY,
        base_url="http://model.invalid/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(endpoint.answer)),
    )
    return OpenAIChatModel(client)


REQUEST = ModelRequest(
    model="m", messages=[{"role": "user", "content": "How much is the Headlamp?"}], tools=TOOLS
)


async def _outcome(model: OpenAIChatModel) -> Decision | ApplicationError:
    try:
        reply = await ActivityEnvironment().run(model.complete, REQUEST)
    except ApplicationError as error:
        return error
    json.dumps(reply.message)  # the kept message goes to the conversation store as JSON
    return reply.decision


def _check(outcome: Decision | ApplicationError) -> None:
    if isinstance(outcome, ApplicationError):
        assert outcome.type in CLASSIFIED, outcome.type
        assert KEY not in str(outcome)
        return
    decision = outcome
    # What enters history must survive the trip: the data converter writes JSON.
    assert Decision.model_validate_json(decision.model_dump_json()).kind == decision.kind
    if decision.confidence is not None:
        assert math.isfinite(decision.confidence)
        assert 0.0 <= decision.confidence <= 1.0
    if decision.kind == "tool_call":
        assert decision.tool in TOOLS
        TOOLS[decision.tool].validate_arguments(decision.arguments)  # already valid: no raise
    elif decision.kind in ("final_answer", "escalate"):
        assert decision.answer
        assert decision.answer.strip()
    else:
        assert decision.problem


@FUZZ
@given(body=well_formed())
async def test_a_well_formed_reply_becomes_a_decision(
    model: OpenAIChatModel, endpoint: Endpoint, body: dict[str, Any]
) -> None:
    endpoint.body = json.dumps(body).encode()
    outcome = await _outcome(model)
    # A reply of the right shape is never an error, whatever its content: it is a decision
    # (invalid ones say what was wrong, for the model to try again).
    assert isinstance(outcome, Decision)
    _check(outcome)


@FUZZ
@given(body=bodies)
@example(body=b'{"choices": [{"message": "hi"}]}')
@example(body=b'{"choices": [{"message": {"content": 5}}]}')
@example(
    body=b'{"choices": [{"message": {"tool_calls": [{"type": "function", "function": '
    b'{"name": ["x"], "arguments": "{}"}}]}}]}'
)
@example(
    body=b'{"choices": [{"message": {"tool_calls": [{"type": "function", "function": '
    b'{"name": "lookup_price", "arguments": {"product": "Headlamp"}}}]}}]}'
)
async def test_any_reply_is_a_decision_or_a_classified_error(
    model: OpenAIChatModel, endpoint: Endpoint, body: bytes
) -> None:
    endpoint.body = body
    _check(await _outcome(model))
