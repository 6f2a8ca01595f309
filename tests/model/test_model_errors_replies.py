"""Replies a provider or a proxy sends that are not a usable decision: bodies that are not JSON,
replies stopped by a content filter or a token limit. The scripted server produces each of them
over real HTTP; the real openai client and the real ``decide`` activity read them."""

from __future__ import annotations

import http.client
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from examples.store.tools import STORE_TOOL_SPECS as STORE_TOOLS
from handrail.activities.llm import LlmActivities
from handrail.contracts import DecideRequest, Decision, Opening
from handrail.errors import ErrorType
from handrail.model.openai_chat import OpenAIChatModel
from handrail.storage.conversations import ConversationStore
from handrail.testing.scripted_model import (
    Fault,
    RawReply,
    Reply,
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
)
from handrail.tools import ToolRegistry

API_KEY = "sk-test-" + "z9y8x7w6v5u4t3s2r1q0"
USER = {"role": "user", "content": "Headlamp price?"}
WHY = {"rationale": "r", "confidence": 0.5}


# --- The scripted server produces them ----------------------------------------------------------


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    # Its own server: the session's records every request, and other tests read that record.
    with ScriptedModelServer() as running:
        yield running


def _post(server: ScriptedModelServer) -> tuple[int, str, bytes]:
    host, port = server.base_url.removeprefix("http://").removesuffix("/v1").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        body = json.dumps({"model": "m", "messages": [USER]})
        connection.request("POST", "/v1/chat/completions", body=body)
        response = connection.getresponse()
        return response.status, response.getheader("content-type") or "", response.read()
    finally:
        connection.close()


def test_a_raw_reply_is_sent_byte_for_byte(server: ScriptedModelServer) -> None:
    page = b"<html><body>\xc3\xa9 Sign in to the proxy</body></html>"
    server.brain = Scenario([RawReply(200, page, headers={"x-proxy": "corp"})])
    assert _post(server) == (200, "text/html; charset=utf-8", page)

    server.brain = Scenario([RawReply(502, b"{truncated", content_type="application/json")])
    assert _post(server) == (502, "application/json", b"{truncated")


async def _ask(server: ScriptedModelServer, reply: Reply) -> Any:
    server.brain = Scenario([reply])
    client = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    try:
        return await client.chat.completions.create(model="m", messages=[USER])  # type: ignore[list-item]
    finally:
        await client.close()


async def test_replies_carry_the_finish_reason_they_are_given(server: ScriptedModelServer) -> None:
    # The defaults are what a model that finished normally sends.
    assert (await _ask(server, TextReply("hi"))).choices[0].finish_reason == "stop"
    plain_call = ToolCallReply("final_answer", {"answer": "a"})
    assert (await _ask(server, plain_call)).choices[0].finish_reason == "tool_calls"

    filtered = await _ask(server, TextReply("", finish_reason="content_filter"))
    assert filtered.choices[0].finish_reason == "content_filter"
    cut = await _ask(server, ToolCallReply("final_answer", '{"ans', finish_reason="length"))
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.tool_calls[0].function.arguments == '{"ans'


# --- The decide activity classifies them --------------------------------------------------------


@pytest_asyncio.fixture
async def activities(
    tmp_path: Path, model_server: ScriptedModelServer
) -> AsyncIterator[LlmActivities]:
    brain = model_server.brain
    client = AsyncOpenAI(base_url=model_server.base_url, api_key=API_KEY, max_retries=0, timeout=2)
    store = ConversationStore(tmp_path / "state.db")
    try:
        yield LlmActivities(OpenAIChatModel(client), store, ToolRegistry(STORE_TOOLS))
    finally:
        await client.close()
        await store.aclose()
        model_server.brain = brain  # the session's server is shared: leave it as found


async def _decide(activities: LlmActivities, server: ScriptedModelServer, reply: Reply) -> Decision:
    server.brain = Scenario([reply])
    request = DecideRequest(
        conversation_id="task-bad/run-1",
        step=0,
        model="scripted",
        tools=["lookup_price"],
        opening=Opening(system_prompt="Be brief.", goal="Headlamp price?"),
    )
    return await ActivityEnvironment().run(activities.decide, request)


async def _failure(
    activities: LlmActivities, server: ScriptedModelServer, reply: Reply
) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await _decide(activities, server, reply)
    assert raised.value.type == ErrorType.LLM_BAD_RESPONSE
    assert not raised.value.non_retryable  # proxies send such pages transiently
    return raised.value


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (RawReply(200, b"<html><body>Gateway login</body></html>"), "text/html"),
        (RawReply(200, b"garbage{", content_type="application/json"), "application/json"),
        (RawReply(200, b"", content_type="application/json"), "(empty)"),
    ],
)
async def test_a_body_that_is_not_json_is_a_retryable_bad_response(
    activities: LlmActivities, model_server: ScriptedModelServer, reply: RawReply, shown: str
) -> None:
    error = await _failure(activities, model_server, reply)
    assert "the model endpoint returned a body that is not JSON" in error.message
    assert "HTTP 200" in error.message
    assert reply.content_type.split(";")[0] in error.message
    assert shown in error.message
    assert reply.body.decode()[:20] in error.message


async def test_the_body_shown_is_short_and_holds_no_key(
    activities: LlmActivities, model_server: ScriptedModelServer
) -> None:
    page = f"<pre>Authorization: Bearer {API_KEY}\nkey={API_KEY}</pre>".encode() + b"x" * 5000
    error = await _failure(activities, model_server, RawReply(200, page))
    assert API_KEY not in error.message
    assert "Authorization: Bearer ***" in error.message
    assert len(error.message) < 300


@pytest.mark.parametrize(
    "body", [b'{"error": {"message": "quota"}}', b"[1, 2]", b'{"choices": "none"}']
)
async def test_json_that_is_not_a_completion_is_a_bad_response(
    activities: LlmActivities, model_server: ScriptedModelServer, body: bytes
) -> None:
    reply = RawReply(200, body, content_type="application/json")
    error = await _failure(activities, model_server, reply)
    assert "the model endpoint returned JSON that is not a chat completion" in error.message
    assert body.decode()[:20] in error.message


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Fault("content_filter"), "the provider's content filter stopped the reply"),
        (Fault("length"), "the reply was cut off at the token limit (finish_reason length)"),
        (Fault("empty_choices"), "the model sent no choices"),
        (
            ToolCallReply("lookup_price", '{"product": "Head', finish_reason="length"),
            "the reply was cut off at the token limit (finish_reason length): "
            "the arguments of lookup_price are not valid JSON",
        ),
    ],
)
async def test_a_stopped_reply_says_why(
    activities: LlmActivities, model_server: ScriptedModelServer, reply: Reply, problem: str
) -> None:
    decision = await _decide(activities, model_server, reply)
    assert decision.kind == "invalid"
    assert decision.problem is not None
    assert decision.problem.startswith(problem)


async def test_a_complete_tool_call_at_the_token_limit_is_still_used(
    activities: LlmActivities, model_server: ScriptedModelServer
) -> None:
    reply = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY}, finish_reason="length")
    decision = await _decide(activities, model_server, reply)
    assert (decision.kind, decision.arguments) == ("tool_call", {"product": "Headlamp"})
