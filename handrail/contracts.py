"""The pydantic contracts that cross Temporal's boundary.

Every workflow, activity, query and (later) signal takes one model and returns one model, so that a
field can be added without breaking runs already in flight: every field that is not part of the
original contract has a default. Payloads travel through ``pydantic_data_converter``.

These models are imported inside the workflow sandbox: keep this module free of I/O.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

DEFAULT_PROFILE = "store_support"


class _Contract(BaseModel):
    # Unknown fields are ignored rather than rejected so that an older worker can still read a
    # payload written by a newer client during a rolling deploy.
    model_config = ConfigDict(extra="ignore")


class AgentTask(_Contract):
    """What a caller asks an agent to do: the input of ``AgentWorkflow``."""

    goal: str = Field(min_length=1, description="The question or job, in the user's words.")
    profile: str = Field(
        default=DEFAULT_PROFILE,
        min_length=1,
        description="Name of the profile that sets the tools, model, prompt and budgets.",
    )
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="Facts the caller already knows (customer id, channel...), shown to the model.",
    )
    task_id: str | None = Field(
        default=None,
        description="Idempotency key: starting the same task id twice runs it once. "
        "It becomes the workflow id; a fresh one is made when absent.",
    )


class ToolBinding(_Contract):
    """A tool as a profile enables it, with the facts the workflow needs to run it."""

    name: str
    read_only: bool = Field(
        default=False,
        description="Reads only: run as a local activity (one round trip less per step).",
    )
    compensation: str | None = Field(
        default=None, description="Activity that undoes this tool's effect, by idempotency key."
    )
    irreversible: bool = Field(
        default=False,
        description="Cannot be undone: runs only when the task commits, after every reversible "
        "step has succeeded (see handrail/policy.py).",
    )


class Profile(_Contract):
    """A named agent configuration as the run recorded it (output of ``load_profile``)."""

    name: str
    description: str = ""
    model: str
    system_prompt: str
    tools: list[ToolBinding] = Field(default_factory=list)
    max_steps: int = Field(default=8, ge=1)
    max_tokens: int | None = Field(default=None, ge=1, description="Budget: tokens in + out.")
    max_duration_seconds: float | None = Field(
        default=None, gt=0, description="Budget: wall time from the task's start."
    )

    @property
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def binding(self, name: str) -> ToolBinding | None:
        return next((tool for tool in self.tools if tool.name == name), None)


class LoadProfileRequest(_Contract):
    name: str


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
    rationale: str = ""
    problem: str | None = Field(default=None, description="Why an invalid decision is invalid.")
    tool_call_id: str | None = None
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0


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
    step: int = Field(ge=0)
    model: str
    tools: list[str]
    opening: Opening | None = None
    observation: Observation | None = None


class ToolCall(_Contract):
    """Input of every tool activity (the activity's name is the tool's name)."""

    task_id: str
    step: int
    idempotency_key: str = Field(description="workflow id + step: stable across retries.")
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolOutcome(_Contract):
    """Output of every tool activity. ``ok=False`` is an answer the model can read (not found,
    out of stock), not an infrastructure failure; those raise and are retried by Temporal."""

    ok: bool
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    summary: str = ""
    latency_ms: float = 0.0

    def for_model(self) -> str:
        """The observation text handed back to the model."""
        if self.ok:
            return json.dumps(self.result, sort_keys=True, default=str)
        return json.dumps({"error": self.error or "the tool failed"}, sort_keys=True)


class CompensationRequest(_Contract):
    """Input of every compensation activity: undo what ``idempotency_key`` did, if anything."""

    task_id: str
    idempotency_key: str
    tool: str = Field(description="The action being undone.")


CompensationStatus = Literal["undone", "nothing_to_undo", "already_undone", "failed"]


class CompensationOutcome(_Contract):
    """Output of every compensation activity."""

    status: CompensationStatus
    detail: str = ""


class PendingCompensation(_Contract):
    """An entry of the saga stack: pushed before its action runs."""

    step: int
    tool: str
    compensation: str
    idempotency_key: str


class CompensationRecord(_Contract):
    """A compensation as it ran (or could not), for the trace."""

    step: int
    tool: str
    compensation: str
    idempotency_key: str
    status: CompensationStatus
    detail: str = ""
    at: datetime


class StepRecord(_Contract):
    """One step of the decision path: what was proposed, and what came of it."""

    index: int
    started_at: datetime
    decision: Decision
    outcome: ToolOutcome | None = None
    note: str = Field(default="", description="What the workflow did with the decision, in words.")
    deferred: bool = Field(
        default=False, description="An irreversible action held back to the task's commit point."
    )


TaskStatus = Literal[
    "running",
    "answered",
    "escalated",
    "budget_exhausted",
    "failed",
    "cancelled",
    "needs_recovery",
]


class TaskResult(_Contract):
    """Output of ``AgentWorkflow``."""

    task_id: str
    status: TaskStatus
    answer: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    compensations: list[CompensationRecord] = Field(
        default_factory=list, description="What was undone when the task did not commit."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tokens_in(self) -> int:
        return sum(step.decision.tokens_in for step in self.steps)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tokens_out(self) -> int:
        return sum(step.decision.tokens_out for step in self.steps)


class TraceRequest(_Contract):
    """Input of the ``trace`` query (empty today; room for paging later)."""


class Trace(_Contract):
    """Output of the ``trace`` query: where a task stands and how it got there."""

    task_id: str
    goal: str
    profile: str
    status: TaskStatus
    answer: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    compensations: list[CompensationRecord] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Why the task failed, in words.")
