"""The decide activity against a real HTTP model server: how failures are classified for
Temporal's retries, how the conversation is kept, and what reaches the model."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from examples.store.tools import STORE_TOOL_SPECS as STORE_TOOLS
from handrail.activities.llm import LlmActivities
from handrail.contracts import DecideRequest, Observation, Opening
from handrail.errors import ErrorType
from handrail.model.openai_chat import OpenAIChatModel
from handrail.storage.conversations import ConversationStore
from handrail.testing.scripted_model import (
    ErrorReply,
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
)
from handrail.tools import ToolRegistry

WHY = {"rationale": "r", "confidence": 0.5}


def _request(step: int = 0, **changes: object) -> DecideRequest:
    base = DecideRequest(
        conversation_id="task-1/run-1",
        step=step,
        model="scripted",
        tools=["lookup_price"],
        opening=Opening(system_prompt="Be brief.", goal="Headlamp price?") if step == 0 else None,
    )
    return base.model_copy(update=changes)


@pytest_asyncio.fixture
async def llm(
    tmp_path: Path, model_server: ScriptedModelServer
) -> AsyncIterator[tuple[LlmActivities, ConversationStore]]:
    store = ConversationStore(tmp_path / "state.db")
    client = AsyncOpenAI(base_url=model_server.base_url, api_key="x", max_retries=0, timeout=2)
    try:
        yield LlmActivities(OpenAIChatModel(client), store, ToolRegistry(STORE_TOOLS)), store
    finally:
        await client.close()
        await store.aclose()


async def _failure(activities: LlmActivities, request: DecideRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.decide, request)
    return raised.value


@pytest.mark.parametrize(
    ("status", "error_type", "non_retryable"),
    [
        (429, ErrorType.LLM_RATE_LIMITED, False),
        (500, ErrorType.LLM_UNAVAILABLE, False),
        (503, ErrorType.LLM_UNAVAILABLE, False),
        (401, ErrorType.LLM_AUTH, True),
        (403, ErrorType.LLM_AUTH, True),
        (400, ErrorType.LLM_BAD_REQUEST, True),
        (404, ErrorType.LLM_BAD_REQUEST, True),
    ],
)
async def test_http_errors_are_classified(
    llm: tuple[LlmActivities, ConversationStore],
    model_server: ScriptedModelServer,
    status: int,
    error_type: str,
    non_retryable: bool,
) -> None:
    model_server.brain = Scenario([ErrorReply(status, message=f"scripted {status}")])
    error = await _failure(llm[0], _request())
    assert error.type == error_type
    assert error.non_retryable is non_retryable
    assert f"HTTP {status}" in error.message


async def test_rate_limit_passes_retry_after_to_temporal(
    llm: tuple[LlmActivities, ConversationStore], model_server: ScriptedModelServer
) -> None:
    model_server.brain = Scenario([ErrorReply(429, headers={"retry-after": "7"})])
    error = await _failure(llm[0], _request())
    assert error.next_retry_delay is not None
    assert error.next_retry_delay.total_seconds() == 7


async def test_timeouts_and_refused_connections_are_retryable(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "state.db")
    registry = ToolRegistry(STORE_TOOLS)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refused = AsyncOpenAI(base_url=f"http://127.0.0.1:{closed_port}/v1", api_key="x", max_retries=0)
    with ScriptedModelServer(Scenario([TextReply("late")]), latency=1.0) as slow_server:
        slow = AsyncOpenAI(base_url=slow_server.base_url, api_key="x", max_retries=0, timeout=0.2)
        try:
            for client, words in ((refused, "cannot reach"), (slow, "timed out")):
                error = await _failure(
                    LlmActivities(OpenAIChatModel(client), store, registry), _request()
                )
                assert error.type == ErrorType.LLM_UNAVAILABLE
                assert not error.non_retryable
                assert words in error.message
        finally:
            await refused.close()
            await slow.close()
            await store.aclose()


async def test_an_unregistered_tool_fails_without_retry(
    llm: tuple[LlmActivities, ConversationStore],
) -> None:
    error = await _failure(llm[0], _request(tools=["launch_rocket"]))
    assert error.type == ErrorType.UNKNOWN_TOOL
    assert error.non_retryable


async def test_conversation_is_kept_outside_and_sent_whole(
    llm: tuple[LlmActivities, ConversationStore], model_server: ScriptedModelServer
) -> None:
    activities, store = llm
    model_server.brain = Scenario(
        [
            ToolCallReply("lookup_price", {"product": "Headlamp", **WHY}),
            ToolCallReply("final_answer", {"answer": "24.00 EUR", **WHY}),
        ]
    )
    env = ActivityEnvironment()
    first = await env.run(activities.decide, _request())
    assert first.kind == "tool_call"
    assert first.tool_call_id
    second_request = _request(
        step=1,
        observation=Observation(tool_call_id=first.tool_call_id, content='{"price": "24.00"}'),
    )
    second = await env.run(activities.decide, second_request)
    assert second.kind == "final_answer"
    assert second.answer == "24.00 EUR"

    sent = model_server.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool"]
    assert sent[3]["tool_call_id"] == first.tool_call_id
    assert sent[0]["content"] == "Be brief."
    kept = await store.messages_before_reply("task-1/run-1", 2)
    assert [m["role"] for m in kept] == ["system", "user", "assistant", "tool", "assistant"]


async def test_a_retried_step_writes_once_and_keeps_the_latest_reply(
    llm: tuple[LlmActivities, ConversationStore], model_server: ScriptedModelServer
) -> None:
    activities, store = llm
    env = ActivityEnvironment()
    model_server.brain = Scenario([ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})])
    await env.run(activities.decide, _request())
    model_server.brain = Scenario(
        [ToolCallReply("lookup_price", {"product": "Rain Jacket", **WHY})]
    )
    retried = await env.run(activities.decide, _request())  # same step again, as a retry would

    # The retry did not see its own earlier reply, and the inputs were not duplicated.
    assert [m["role"] for m in model_server.requests[-1]["messages"]] == ["system", "user"]
    kept = await store.messages_before_reply("task-1/run-1", 1)
    assert [m["role"] for m in kept] == ["system", "user", "assistant"]
    assert kept[2]["tool_calls"][0]["id"] == retried.tool_call_id
    assert "Rain Jacket" in kept[2]["tool_calls"][0]["function"]["arguments"]


async def test_tools_offered_carry_rationale_and_confidence(
    llm: tuple[LlmActivities, ConversationStore], model_server: ScriptedModelServer
) -> None:
    model_server.brain = Scenario([TextReply("Hello")])
    decision = await ActivityEnvironment().run(llm[0].decide, _request())
    assert decision.kind == "final_answer"
    assert decision.confidence is None  # plain text states no confidence: the policy reads low
    request = model_server.requests[-1]
    assert request["tool_choice"] == "required"
    offered = {tool["function"]["name"]: tool["function"] for tool in request["tools"]}
    assert set(offered) == {"lookup_price", "final_answer", "escalate"}
    lookup = offered["lookup_price"]["parameters"]
    assert set(lookup["required"]) == {"product", "rationale", "confidence"}
