"""The scripted model server, exercised through the real openai client over real HTTP."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from handrail.testing.scripted_model import (
    ErrorReply,
    Reply,
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
)
from handrail.testing.store_clerk import StoreClerk

STORE_TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("lookup_price", "get_order", "final_answer", "escalate")
]
USER = {"role": "user", "content": "How much are the Trail Runner Shoes?"}


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as running:
        yield running


@pytest.fixture
async def client(server: ScriptedModelServer) -> AsyncIterator[AsyncOpenAI]:
    api = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    yield api
    await api.close()


async def ask(client: AsyncOpenAI, messages: list[dict[str, Any]], **extra: Any) -> Any:
    return await client.chat.completions.create(
        model="gpt-test",
        messages=messages,  # type: ignore[arg-type]  # plain dicts in the API's shape
        **extra,
    )


def tool_call(completion: Any) -> tuple[str, dict[str, Any]]:
    """The one tool call of ``completion``, its arguments decoded."""
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert len(calls) == 1
    return calls[0].function.name, json.loads(calls[0].function.arguments)


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


# --- The protocol -------------------------------------------------------------------------------


async def test_tool_call_reply_parses_as_a_real_completion(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    server.brain = Scenario([ToolCallReply("lookup_price", {"product": "mug", "confidence": 0.5})])

    completion = await ask(client, [USER], tools=STORE_TOOLS, tool_choice="required")

    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"
    assert abs(completion.created - time.time()) < 60
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.role == "assistant"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_")
    assert call.type == "function"
    assert isinstance(call.function.arguments, str)
    assert tool_call(completion) == ("lookup_price", {"product": "mug", "confidence": 0.5})
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_string_arguments_are_sent_verbatim(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    server.brain = Scenario([ToolCallReply("final_answer", '{"answer": "unterminated')])

    completion = await ask(client, [USER])

    assert completion.choices[0].message.tool_calls[0].function.arguments == (
        '{"answer": "unterminated'
    )


async def test_text_reply_has_content_and_stops(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    server.brain = Scenario([TextReply("x" * 9)])

    completion = await ask(client, [{"role": "user", "content": "abcd" * 10}])

    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content == "x" * 9
    assert choice.message.tool_calls is None
    # ceil(chars / 4): 40 prompt characters, 9 reply characters.
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 3)
    assert completion.usage.total_tokens == 13


async def test_tool_schemas_count_towards_prompt_tokens(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    server.brain = Scenario([TextReply("ok")])

    bare = await ask(client, [USER])
    with_tools = await ask(client, [USER], tools=STORE_TOOLS)

    assert bare.usage is not None
    assert with_tools.usage is not None
    assert with_tools.usage.prompt_tokens > bare.usage.prompt_tokens


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (500, openai.InternalServerError),
        (429, openai.RateLimitError),
        (401, openai.AuthenticationError),
        (400, openai.BadRequestError),
    ],
)
async def test_error_reply_raises_the_clients_own_exception(
    server: ScriptedModelServer,
    client: AsyncOpenAI,
    status: int,
    error_type: type[openai.APIStatusError],
) -> None:
    server.brain = Scenario([ErrorReply(status, "scripted trouble")])

    with pytest.raises(error_type) as caught:
        await ask(client, [USER])

    assert caught.value.status_code == status
    assert "scripted trouble" in caught.value.message
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "scripted trouble"


async def test_error_reply_sends_its_headers(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    server.brain = Scenario([ErrorReply(429, headers={"retry-after": "7"})])

    with pytest.raises(openai.RateLimitError) as caught:
        await ask(client, [USER])

    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"


async def test_a_brain_that_raises_gives_a_500_with_its_message(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    def broken(request: dict[str, Any]) -> Reply:
        raise KeyError("no such step")

    server.brain = broken

    with pytest.raises(openai.InternalServerError) as caught:
        await ask(client, [USER])

    assert "no such step" in caught.value.message


def raw_request(server: ScriptedModelServer, method: str, path: str, body: bytes) -> Any:
    host, port = server.base_url.removeprefix("http://").split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path, body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_body_that_is_not_json_is_a_400(server: ScriptedModelServer) -> None:
    status, body = raw_request(server, "POST", "/v1/chat/completions", b"{not json")

    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert server.requests == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/completions"), ("GET", "/v1/chat/completions"), ("GET", "/v1/models")],
)
def test_other_paths_and_methods_are_404(
    server: ScriptedModelServer, method: str, path: str
) -> None:
    status, body = raw_request(server, method, path, b"{}")

    assert status == 404
    assert set(body["error"]) >= {"message", "type", "code"}


async def test_requests_are_recorded_in_order(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    server.brain = Scenario([TextReply("ok")])

    await ask(client, [{"role": "user", "content": "first"}])
    await ask(client, [{"role": "user", "content": "second"}], tools=STORE_TOOLS)

    assert [r["messages"][0]["content"] for r in server.requests] == ["first", "second"]
    assert server.requests[0]["model"] == "gpt-test"
    assert "tools" not in server.requests[0]
    assert server.requests[1]["tools"] == STORE_TOOLS


async def test_latency_delays_the_reply(client: AsyncOpenAI, server: ScriptedModelServer) -> None:
    server.brain = Scenario([TextReply("ok")])
    server.latency = 0.3

    started = time.monotonic()
    await ask(client, [USER])

    assert time.monotonic() - started >= 0.3


# --- Scenario -----------------------------------------------------------------------------------


def conversation(assistant_turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [USER]
    for turn in range(assistant_turns):
        messages.append({"role": "assistant", "content": f"turn {turn}"})
        messages.append({"role": "user", "content": "go on"})
    return {"messages": messages}


def test_scenario_indexes_by_assistant_messages_and_repeats_the_last() -> None:
    first, second, third = TextReply("one"), TextReply("two"), ErrorReply(503)
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


async def test_scenario_over_http_follows_the_conversation(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    server.brain = Scenario([TextReply("first"), TextReply("second")])

    opening = await ask(client, [USER])
    follow_up = await ask(
        client, [USER, {"role": "assistant", "content": "first"}, {"role": "user", "content": "?"}]
    )
    retried = await ask(client, [USER])

    assert opening.choices[0].message.content == "first"
    assert follow_up.choices[0].message.content == "second"
    assert retried.choices[0].message.content == "first"


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


async def test_store_clerk_is_the_default_brain_over_http(client: AsyncOpenAI) -> None:
    question = await ask(client, [USER], tools=STORE_TOOLS, tool_choice="required")
    assert tool_call(question)[0] == "lookup_price"

    call = question.choices[0].message.tool_calls[0]
    price = {"sku": "TRAIL-RUN", "name": "Trail Runner Shoes", "price": "89.99", "currency": "EUR"}
    answer = await ask(
        client,
        [
            USER,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": json.dumps(price)},
        ],
        tools=STORE_TOOLS,
        tool_choice="required",
    )

    name, arguments = tool_call(answer)
    assert name == "final_answer"
    assert arguments["answer"] == "The price of the Trail Runner Shoes is 89.99 EUR."


# --- Routing ------------------------------------------------------------------------------------


async def test_routes_pick_a_brain_by_marker_in_the_first_user_message(
    server: ScriptedModelServer, client: AsyncOpenAI
) -> None:
    server.brain = Scenario([TextReply("default")])
    server.route("[case-a]", Scenario([TextReply("brain a")]))
    server.route("[case-b]", Scenario([TextReply("brain b")]))

    replies = await asyncio.gather(
        ask(client, [{"role": "user", "content": "[case-a] hello"}]),
        ask(client, [{"role": "user", "content": "[case-b] hello"}]),
        ask(client, [{"role": "user", "content": "no marker"}]),
        # Only the first user message counts.
        ask(
            client,
            [
                {"role": "user", "content": "plain"},
                {"role": "assistant", "content": "?"},
                {"role": "user", "content": "[case-a]"},
            ],
        ),
    )

    assert [r.choices[0].message.content for r in replies] == [
        "brain a",
        "brain b",
        "default",
        "default",
    ]

    server.unroute("[case-a]")
    server.unroute("[never-added]")
    after = await ask(client, [{"role": "user", "content": "[case-a] hello"}])
    assert after.choices[0].message.content == "default"


# --- Lifecycle ----------------------------------------------------------------------------------


async def test_stop_frees_the_port_and_joins_the_thread() -> None:
    server = ScriptedModelServer(Scenario([TextReply("ok")]))
    server.start()
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    client = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    try:
        # A kept-alive connection from the client's pool must not stop the server from stopping.
        assert (await ask(client, [USER])).choices[0].message.content == "ok"
        server.stop()

        assert not [t for t in threading.enumerate() if t.name == f"scripted-model-server:{port}"]
        with pytest.raises(RuntimeError, match="not running"):
            _ = server.base_url
        with pytest.raises(openai.APIConnectionError):
            await ask(client, [USER])
    finally:
        await client.close()

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))  # raises OSError if the port were still held
    with ScriptedModelServer(port=port) as again:
        assert again.base_url == f"http://127.0.0.1:{port}/v1"
    server.stop()  # a second stop does nothing


def test_start_twice_is_an_error() -> None:
    with ScriptedModelServer() as server, pytest.raises(RuntimeError, match="already running"):
        server.start()
