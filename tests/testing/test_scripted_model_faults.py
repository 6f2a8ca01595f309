"""Model faults as the scripted server injects them, read by the real openai client over real HTTP;
``FaultSchedule`` and ``FaultMix`` called directly. What Handrail makes of each fault is in
test_faults_model*.py."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from handrail.testing.scripted_model import (
    FAULT_KINDS,
    Fault,
    FaultMix,
    FaultSchedule,
    Reply,
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
)

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "final_answer", "parameters": {"required": ["a"]}}},
    {"type": "function", "function": {"name": "lookup_price", "parameters": {"type": "object"}}},
    {
        "type": "function",
        "function": {"name": "get_order", "parameters": {"required": ["order_id", "confidence"]}},
    },
]
USER = {"role": "user", "content": "Where is order 1001?"}


def _call(name: str, arguments: str, call_id: str = "call_1") -> dict[str, Any]:
    function = {"name": name, "arguments": arguments}
    return {"role": "assistant", "tool_calls": [{"id": call_id, "function": function}]}


LOOKUP = _call("get_order", '{"order_id": 1001}')
AFTER_LOOKUP = [USER, LOOKUP, {"role": "tool", "tool_call_id": "call_1", "content": "{}"}]


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as running:
        yield running


@pytest.fixture
async def client(server: ScriptedModelServer) -> AsyncIterator[AsyncOpenAI]:
    api = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=5)
    yield api
    await api.close()


async def _ask(
    server: ScriptedModelServer,
    client: AsyncOpenAI,
    fault: Fault,
    messages: list[dict[str, Any]] | None = None,
) -> Any:
    server.brain = Scenario([fault])
    return await client.chat.completions.with_raw_response.create(
        model="m",
        messages=messages or [USER],  # type: ignore[arg-type]  # plain dicts in the API's shape
        tools=TOOLS,  # type: ignore[arg-type]
    )


# --- On the wire ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault("rate_limited"), openai.RateLimitError, 429),
        (Fault("rate_limited", retry_after="3"), openai.RateLimitError, 429),
        (Fault("server_error"), openai.InternalServerError, 500),
        (Fault("unavailable"), openai.InternalServerError, 503),
    ],
)
async def test_status_faults_raise_the_clients_own_error(
    server: ScriptedModelServer,
    client: AsyncOpenAI,
    fault: Fault,
    error: type[openai.APIStatusError],
    status: int,
) -> None:
    with pytest.raises(error) as raised:
        await _ask(server, client, fault)
    assert raised.value.status_code == status
    assert raised.value.response.headers.get("retry-after") == fault.retry_after


async def test_a_reset_is_a_connection_error(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    with pytest.raises(openai.APIConnectionError) as raised:
        await _ask(server, client, Fault("reset"))
    assert not isinstance(raised.value, openai.APITimeoutError)
    # The server goes on serving the next request.
    server.brain = Scenario([TextReply("back")])
    again = await client.chat.completions.create(model="m", messages=[USER])  # type: ignore[list-item]
    assert again.choices[0].message.content == "back"


async def test_a_hang_outlasts_the_client_and_stop_ends_it() -> None:
    server = ScriptedModelServer(Scenario([Fault("hang")]))  # 600 s by default
    server.start()
    client = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=0.5)
    try:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=[USER])  # type: ignore[list-item]
    finally:
        await client.close()
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 30  # not the hang's 600 s


async def test_bodies_that_are_no_usable_completion(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    page = await _ask(server, client, Fault("not_json"))
    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert page.text.startswith("<html>")

    empty = json.loads((await _ask(server, client, Fault("empty_choices"))).text)
    assert (empty["object"], empty["choices"]) == ("chat.completion", [])


@pytest.mark.parametrize(
    ("fault", "finish_reason", "content"),
    [
        (Fault("content_filter"), "content_filter", ""),
        (Fault("length"), "length", "The answer to your question is"),
        (Fault("plain_text"), "stop", "All done, everything is sorted out."),
    ],
)
async def test_text_faults(
    server: ScriptedModelServer,
    client: AsyncOpenAI,
    fault: Fault,
    finish_reason: str,
    content: str,
) -> None:
    choice = (await _ask(server, client, fault)).parse().choices[0]
    assert (choice.finish_reason, choice.message.content) == (finish_reason, content)
    assert choice.message.tool_calls is None


@pytest.mark.parametrize(
    ("fault", "name", "arguments"),
    [
        (Fault("unknown_tool"), "delete_all_orders", None),
        (Fault("unknown_tool", tool="drop_tables"), "drop_tables", None),
        # The first offered tool with a required argument besides the decision fields.
        (Fault("arguments_not_json"), "get_order", '{"order_id": 10'),
        (Fault("arguments_not_json", tool="lookup_price"), "lookup_price", '{"order_id": 10'),
        (Fault("arguments_off_schema"), "get_order", None),
    ],
)
async def test_tool_call_faults(
    server: ScriptedModelServer,
    client: AsyncOpenAI,
    fault: Fault,
    name: str,
    arguments: str | None,
) -> None:
    call = (await _ask(server, client, fault)).parse().choices[0].message.tool_calls[0]
    assert call.function.name == name
    if arguments is not None:
        assert call.function.arguments == arguments
    else:
        sent = json.loads(call.function.arguments)
        assert "order_id" not in sent  # off schema: the required argument is missing
        assert sent["confidence"] == 0.99


async def test_a_tool_loop_repeats_the_last_call_verbatim(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    call = (await _ask(server, client, Fault("tool_loop"), AFTER_LOOKUP)).parse()
    function = call.choices[0].message.tool_calls[0].function
    assert (function.name, function.arguments) == ("get_order", '{"order_id": 1001}')

    with pytest.raises(openai.InternalServerError, match="needs an earlier tool call"):
        await _ask(server, client, Fault("tool_loop"))


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"kind": "flaky"}, "unknown fault kind 'flaky'"),
        ({"kind": "unavailable", "retry_after": "1"}, "rate_limited faults only"),
        ({"kind": "plain_text", "tool": "x"}, "faults only"),
        ({"kind": "hang", "seconds": 0}, "positive"),
    ],
)
def test_a_fault_that_cannot_be_is_refused(arguments: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault(**arguments)


# --- When faults strike -----------------------------------------------------------------------


def _request(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages or [USER]), "tools": TOOLS}


GOOD = TextReply("fine")


def test_a_schedule_strikes_the_requests_it_names() -> None:
    unavailable = Fault("unavailable")
    schedule = FaultSchedule(Scenario([GOOD]), at={1: unavailable, 3: Fault("reset")})

    replies = [schedule(_request()) for _ in range(4)]

    assert replies == [unavailable, GOOD, Fault("reset"), GOOD]
    assert schedule.injected == [(1, unavailable), (3, Fault("reset"))]
    assert schedule.requests == 4


def _mixed(seed: int, conversations: list[dict[str, Any]]) -> list[Reply]:
    mix = FaultMix(seed, {Fault("unavailable"): 0.3, Fault("content_filter"): 0.2})
    schedule = FaultSchedule(Scenario([GOOD]), mix=mix)
    return [schedule(request) for request in conversations]


def test_a_mix_is_seeded_and_independent_of_arrival_order() -> None:
    conversations = [_request({"role": "user", "content": f"task {n}"}) for n in range(200)]

    first = _mixed(7, conversations)
    backwards = _mixed(7, conversations[::-1])[::-1]

    assert first == backwards
    assert first != _mixed(8, conversations)
    share = sum(reply != GOOD for reply in first) / len(first)
    assert 0.35 < share < 0.65  # 0.5 asked for; 200 draws
    assert {reply for reply in first} == {GOOD, Fault("unavailable"), Fault("content_filter")}


def test_a_retried_request_is_a_fresh_draw() -> None:
    # The same request over and over, as Temporal retries it: some attempts pass.
    same = [_request()] * 40
    replies = _mixed(1, same)
    assert GOOD in replies
    assert Fault("unavailable") in replies
    # The draw depends on what was said, not on call ids that change from run to run.
    renamed = _request(USER, _call("get_order", '{"order_id": 1001}', "call_other"))
    assert _mixed(3, [_request(*AFTER_LOOKUP[:2])]) == _mixed(3, [renamed])


def test_a_loop_in_a_mix_never_ends() -> None:
    loop = Fault("tool_loop")
    schedule = FaultSchedule(Scenario([GOOD]), mix=FaultMix(0, {loop: 1.0}))
    assert schedule(_request()) == GOOD  # nothing to repeat yet

    looping = FaultSchedule(Scenario([GOOD]), mix=FaultMix(0, {loop: 0.0}))
    repeated = [*AFTER_LOOKUP, LOOKUP, {"role": "tool", "tool_call_id": "call_1", "content": "{}"}]
    assert looping(_request(*repeated)) == loop  # rate 0, but the conversation already loops
    assert looping(_request(*AFTER_LOOKUP)) == GOOD


@pytest.mark.parametrize(
    "rates", [{Fault("reset"): 1.5}, {Fault("reset"): 0.6, Fault("unavailable"): 0.6}]
)
def test_a_mix_needs_probabilities(rates: dict[Fault, float]) -> None:
    with pytest.raises(ValueError, match="rate"):
        FaultMix(0, rates)


def test_every_fault_kind_is_listed() -> None:
    assert len(FAULT_KINDS) == 14
    assert all(isinstance(Fault(kind), Fault) for kind in FAULT_KINDS)


def test_a_scenario_holds_faults_at_any_step() -> None:
    scenario = Scenario([ToolCallReply("get_order", {"order_id": 1001}), Fault("tool_loop")])
    assert scenario(_request(*AFTER_LOOKUP)) == Fault("tool_loop")
