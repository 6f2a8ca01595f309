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
    SCRIPTED_ANSWER,
    ErrorReply,
    Reply,
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
)

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


# --- Brains over HTTP (called directly in test_scripted_model_brains.py) --------------------------


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


async def test_the_default_brain_answers_saying_it_is_scripted(client: AsyncOpenAI) -> None:
    completion = await ask(client, [USER], tools=STORE_TOOLS, tool_choice="required")

    name, arguments = tool_call(completion)
    assert name == "final_answer"
    assert arguments["answer"] == SCRIPTED_ANSWER


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
