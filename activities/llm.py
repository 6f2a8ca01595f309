"""The ``decide`` activity: one model call that proposes the agent's next step, through the
worker's ``ModelAdapter``; the conversation is read and written in the store, not history."""

from __future__ import annotations

import json
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import DecideRequest, Decision, Observation, Opening
from handrail.errors import ErrorType
from handrail.model.adapter import ModelAdapter, ModelRequest
from handrail.names import MAX_STEP_PAYLOAD_BYTES, OMITTED_STEPS_NOTE
from handrail.storage.conversations import (
    GOAL_SLOT,
    OBSERVATION_SLOT,
    SYSTEM_SLOT,
    ConversationStore,
    Message,
)
from handrail.tools import ToolRegistry
from handrail.tools.heartbeat import Heartbeat
from handrail.tools.lookup import ToolLookup


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


DEFAULT_CONTEXT_STEPS = 100


def _require_whole(messages: list[Message], request: DecideRequest, window: int) -> None:
    """Never decide on a truncated conversation. Step n must see the system prompt, the goal
    and, for every earlier step, the model's reply and what came of it: a worker that reads
    another host's empty or partial store would otherwise go on with a lone tool message, and
    the model would answer something without an error anywhere."""
    expected = 2 + 2 * min(request.step, window)
    opened = len(messages) >= 2 and messages[0].get("role") == "system"
    if len(messages) < expected or not opened:
        raise ApplicationError(
            f"conversation of task {request.conversation_id} at step {request.step + 1} is "
            f"incomplete in Handrail's state store: {len(messages)} message(s), {expected} "
            "expected. Every worker of a task queue must share one state store "
            "(HANDRAIL_STATE_URL).",
            type=ErrorType.CONVERSATION_INCOMPLETE,
            non_retryable=True,
        )


def _bounded(decision: Decision) -> Decision:
    """A decision too big for history becomes an invalid one the model is told about (it can
    try again smaller), instead of failing the workflow task."""
    size = len(decision.model_dump_json())
    if size <= MAX_STEP_PAYLOAD_BYTES:
        return decision
    return Decision(
        kind="invalid",
        tool=decision.tool,
        tool_call_id=decision.tool_call_id,
        model=decision.model,
        tokens_in=decision.tokens_in,
        tokens_out=decision.tokens_out,
        problem=f"the reply is {size:,} bytes, above the {MAX_STEP_PAYLOAD_BYTES:,} a step may "
        "carry: answer or call the tool with less",
    )


class LlmActivities:
    """Model calls through a ``ModelAdapter`` (``handrail.model.adapter``), built once by the
    worker."""

    def __init__(
        self,
        model: ModelAdapter,
        conversations: ConversationStore,
        tools: ToolRegistry | ToolLookup,
        *,
        context_steps: int = DEFAULT_CONTEXT_STEPS,
    ) -> None:
        """``context_steps``: how many of the newest steps the model sees (besides the system
        prompt and the goal)."""
        self._context_steps = context_steps
        self._model = model
        self._conversations = conversations
        self._tools = tools

    @activity.defn(name="decide")
    async def decide(self, request: DecideRequest) -> Decision:
        """Ask the model for the next step of ``request.conversation_id``. Heartbeats in the
        background while it runs (when the workflow set a heartbeat timeout), so a worker that
        dies mid-call has its call retried elsewhere after the heartbeat timeout."""
        async with Heartbeat().running():
            return await self._decide(request)

    async def _decide(self, request: DecideRequest) -> Decision:
        tools = {}
        for name in request.tools:
            if isinstance(self._tools, ToolLookup):
                spec = await self._tools.get(name, request.profile)
            else:
                spec = self._tools.get(name)
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
            request.conversation_id, request.step, window=self._context_steps
        )
        _require_whole(messages, request, self._context_steps)
        omitted = request.step - self._context_steps
        if omitted > 0:  # say so, or the model takes the window for the whole story
            note = OMITTED_STEPS_NOTE.format(count=omitted)
            messages = [*messages[:2], {"role": "user", "content": note}, *messages[2:]]

        started = time.monotonic()
        reply = await self._model.complete(
            ModelRequest(model=request.model, messages=messages, tools=tools)
        )
        latency_ms = (time.monotonic() - started) * 1000
        decision = reply.decision
        await self._conversations.set_reply(request.conversation_id, request.step, reply.message)
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
        attempt = activity.info().attempt
        decision = _bounded(decision)
        return decision.model_copy(update={"latency_ms": latency_ms, "attempt": attempt})
