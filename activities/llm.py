"""The ``decide`` activity: one Chat Completions call that proposes the agent's next step."""

from __future__ import annotations

import json
import time
from typing import Any, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam
from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.activities.conversation_store import (
    GOAL_SLOT,
    OBSERVATION_SLOT,
    SYSTEM_SLOT,
    ConversationStore,
    Message,
)
from handrail.activities.decision_parsing import CONTROL_TOOLS, parse_completion
from handrail.activities.llm_errors import classify_llm_error, read_completion
from handrail.contracts import DecideRequest, Decision, Observation, Opening
from handrail.errors import ErrorType
from handrail.tools import ToolRegistry


def _opening_messages(opening: Opening) -> list[tuple[int, Message]]:
    goal = opening.goal
    if opening.context:
        goal += "\n\nContext: " + json.dumps(opening.context, sort_keys=True, default=str)
    return [
        (SYSTEM_SLOT, {"role": "system", "content": opening.system_prompt.strip()}),
        (GOAL_SLOT, {"role": "user", "content": goal}),
    ]


def _observation_message(observation: Observation) -> Message:
    if observation.tool_call_id is None:
        return {"role": "user", "content": observation.content}
    return {
        "role": "tool",
        "tool_call_id": observation.tool_call_id,
        "content": observation.content,
    }


class LlmActivities:
    """Model calls. The client is built once by the worker (``max_retries=0``: Temporal retries)."""

    def __init__(
        self, client: AsyncOpenAI, conversations: ConversationStore, registry: ToolRegistry
    ) -> None:
        self._client = client
        self._conversations = conversations
        self._registry = registry

    @activity.defn(name="decide")
    async def decide(self, request: DecideRequest) -> Decision:
        """Ask the model for the next step of ``request.conversation_id``."""
        tools = {}
        for name in request.tools:
            spec = self._registry.get(name)
            if spec is None:
                raise ApplicationError(
                    f"tool {name!r} is not registered on this worker",
                    type=ErrorType.UNKNOWN_TOOL,
                    non_retryable=True,
                )
            tools[name] = spec

        inputs: list[tuple[int, Message]] = []
        if request.opening is not None:
            inputs += _opening_messages(request.opening)
        if request.observation is not None:
            inputs.append((OBSERVATION_SLOT, _observation_message(request.observation)))
        if inputs:
            await self._conversations.add_inputs(request.conversation_id, request.step, inputs)
        messages = await self._conversations.messages_before_reply(
            request.conversation_id, request.step
        )

        schemas: list[Any] = [spec.openai_schema() for spec in tools.values()] + CONTROL_TOOLS
        info = activity.info()
        started = time.monotonic()
        try:
            # The raw response, so that a body which is not a completion (a proxy's HTML page)
            # can be reported with its status and content type instead of crashing the parse.
            raw = await self._client.chat.completions.with_raw_response.create(
                model=request.model,
                # Plain dicts already in the API's shape (they round-trip through the store).
                messages=cast("list[ChatCompletionMessageParam]", messages),
                tools=cast("list[ChatCompletionFunctionToolParam]", schemas),
                # Every reply is a structured decision (a tool, final_answer or escalate), so
                # confidence and rationale always have a place to go.
                tool_choice="required",
            )
        except openai.OpenAIError as error:
            raise classify_llm_error(
                error, attempt=info.attempt, retry_policy=info.retry_policy
            ) from error
        latency_ms = (time.monotonic() - started) * 1000
        completion = read_completion(raw.parse, raw.http_response, secret=self._client.api_key)

        decision, reply = parse_completion(completion, tools)
        await self._conversations.set_reply(request.conversation_id, request.step, reply)
        activity.logger.info(
            "step %d of %s: %s %s (%.0f ms, %d+%d tokens)",
            request.step,
            request.conversation_id,
            decision.kind,
            decision.tool or "",
            latency_ms,
            decision.tokens_in,
            decision.tokens_out,
        )
        return decision.model_copy(update={"latency_ms": latency_ms, "attempt": info.attempt})
