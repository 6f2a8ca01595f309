"""What the model proposed at a step, and what the ``decide`` activity is asked for."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from handrail.contracts._base import _Contract

DecisionKind = Literal["tool_call", "final_answer", "escalate", "invalid"]


class Decision(_Contract):
    """What the model proposed at one step, as the LLM activity understood it.

    ``invalid`` is a decision too: a malformed tool call is something the workflow handles (it tells
    the model what was wrong), never a crash.
    """

    kind: DecisionKind
    tool: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    answer: str | None = Field(
        default=None, description="The final answer, or the reason for escalating."
    )
    confidence: float | None = Field(
        default=None,
        description="The model's own confidence in [0, 1], as it stated it; None when missing "
        "or out of range (the policy treats that as low).",
    )
    logprob_confidence: float | None = Field(
        default=None,
        description="The reply's mean token probability, exp(mean token log-probability), in "
        "(0, 1], where the endpoint returned log-probabilities (asked for with "
        "OpenAIChatModel(logprobs=True)); None otherwise. Recorded beside the stated confidence "
        "for calibration; the policy does not read it.",
    )
    rationale: str = ""
    problem: str | None = Field(default=None, description="Why an invalid decision is invalid.")
    tool_call_id: str | None = None
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    attempt: int = Field(default=1, description="Which attempt of the model call this is.")


class Observation(_Contract):
    """What the model sees next: a tool's result, or why its last reply could not be used."""

    tool_call_id: str | None = None
    content: str


class Opening(_Contract):
    """The first messages of a conversation, sent once (step 0) and then kept outside history."""

    system_prompt: str
    goal: str
    context: dict[str, Any] = Field(default_factory=dict)


class DecideRequest(_Contract):
    """Input of the ``decide`` activity.

    It carries references, not the conversation: the activity reads and appends the messages in
    its conversation store, so each step adds a bounded number of bytes to workflow history.
    """

    conversation_id: str
    step: int = Field(
        ge=0,
        description="The step's position in the conversation, from 0: a key of the "
        "conversation store, never shown (the trace shows the step as ``step + 1``).",
    )
    model: str
    tools: list[str]
    profile: str | None = Field(
        default=None,
        description="The profile's name, so that a worker which has not listed the profile's "
        "MCP servers yet can find their tools.",
    )
    opening: Opening | None = None
    observation: Observation | None = None
