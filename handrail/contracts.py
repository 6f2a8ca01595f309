"""The pydantic contracts that cross Temporal's boundary.

Every workflow, activity, query and (later) signal takes one model and returns one model, so that a
field can be added without breaking runs already in flight: every field that is not part of the
original contract has a default. Payloads travel through ``pydantic_data_converter``.

These models are imported inside the workflow sandbox: keep this module free of I/O.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    field_validator,
    model_serializer,
)

DEFAULT_PROFILE = "store_support"


class _Contract(BaseModel):
    # Unknown fields are ignored rather than rejected so that an older worker can still read a
    # payload written by a newer client during a rolling deploy.
    model_config = ConfigDict(extra="ignore")

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave out fields that hold their empty default (None, [], {}): every payload lands in
        workflow history, and decoding restores them from the defaults. About a third of a
        step's history bytes were ``null`` and ``[]``."""
        data = handler(self)
        if not isinstance(data, dict):
            return data
        for name, field in type(self).model_fields.items():
            if name not in data:
                continue
            value = data[name]
            empty_default = value is None and field.default is None
            empty_factory = value in ([], {}) and field.default_factory in (list, dict)
            if empty_default or empty_factory:
                del data[name]
        return data


# Documented limits of a task's input (README, "Task input"): far below Temporal's 2 MiB payload
# limit, so that an oversized goal or context is refused with the field named instead of an
# RPC error from the server, and the opening messages stay a small part of the model's context.
MAX_GOAL_CHARS: Final = 20_000
MAX_CONTEXT_BYTES: Final = 64 * 1024
MAX_TASK_ID_CHARS: Final = 200


class AgentTask(_Contract):
    """What a caller asks an agent to do: the input of ``AgentWorkflow``.

    Strict, unlike the other contracts: a misspelled field (``profil``) is an error rather than
    a task silently run under the default profile. The caller writes this payload; no older
    worker ever needs to skip a field of it.
    """

    model_config = ConfigDict(extra="forbid")

    goal: str = Field(
        min_length=1,
        max_length=MAX_GOAL_CHARS,
        description="The question or job, in the user's words.",
    )
    profile: str = Field(
        default=DEFAULT_PROFILE,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Name of the profile that sets the tools, model, prompt and budgets.",
    )
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="Facts the caller already knows (customer id, channel...), shown to the model.",
    )
    task_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TASK_ID_CHARS,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Idempotency key: starting the same task id twice runs it once. "
        "It becomes the workflow id; a fresh one is made when absent.",
    )

    @field_validator("goal")
    @classmethod
    def _goal_has_words(cls, goal: str) -> str:
        if not goal.strip():
            raise ValueError("the goal is blank: say what the agent should do")
        return goal

    @field_validator("context")
    @classmethod
    def _context_fits(cls, context: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(context, default=str).encode())
        if size > MAX_CONTEXT_BYTES:
            raise ValueError(
                f"the context is {size:,} bytes as JSON, above the limit of {MAX_CONTEXT_BYTES:,}"
            )
        return context


Autonomy = Literal["suggest", "supervised", "autonomous"]


class ToolRule(_Contract):
    """How much a tool may do on its own: the policy's input, set per tool in the profile.

    - ``suggest``: never runs without a reviewer's approval;
    - ``supervised``: runs when the model is confident enough and the action is within limits
      and reversible; otherwise a reviewer decides;
    - ``autonomous``: runs; a sampled share still goes to review so agreement keeps being
      measured. Deny limits apply at every level.
    """

    autonomy: Autonomy = "supervised"
    min_confidence: float = Field(default=0.8, ge=0, le=1)
    review_above: Decimal | None = Field(
        default=None, ge=0, description="An amount above this needs a reviewer (supervised)."
    )
    deny_above: Decimal | None = Field(
        default=None, ge=0, description="An amount above this is refused at any level."
    )
    task_limit: Decimal | None = Field(
        default=None, ge=0, description="Refused when this task's total for the tool would pass it."
    )
    review_sample: float = Field(
        default=0.0, ge=0, le=1, description="Share of autonomous actions sent to review anyway."
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
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="JSON schema of the arguments, checked by the policy."
    )
    amount_field: str | None = Field(
        default=None, description="The argument that carries money, for the risk limits."
    )
    rule: ToolRule = Field(default_factory=ToolRule)
    sensitive: list[str] = Field(
        default_factory=list, description="Arguments redacted in traces, logs and exports."
    )
    summary: str = Field(
        default="",
        description="One-line description template, e.g. '{amount} on order {order_id}'.",
    )


class FinalAnswerRule(_Contract):
    """How the policy gates a final answer (the profile's ``[final_answer]`` table).

    A final answer is a decision too, whatever form it arrives in: a plain-text reply counts as
    a final answer with no stated confidence. Besides these settings one rule always holds: a
    task that changed the world and ends with an answer stating no confidence goes to review.
    """

    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="A final answer below this stated confidence (or with none) needs a reviewer.",
    )
    review_if_changed: bool = Field(
        default=False,
        description="Every final answer of a task that changed the world needs a reviewer.",
    )


class ReviewTier(_Contract):
    """One rung of the review ladder: who may decide, and how long they have."""

    name: str
    reviewers: list[str] = Field(min_length=1)
    deadline: timedelta = Field(gt=timedelta(0))


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
    review_tiers: list[ReviewTier] = Field(
        default_factory=list, description="Escalation ladder; none means review fails safe."
    )
    final_answer: FinalAnswerRule = Field(default_factory=FinalAnswerRule)
    max_consecutive_refusals: int = Field(
        default=3,
        ge=1,
        description="Refused steps in a row (unknown tool, bad JSON or arguments, denied by "
        "policy) after which the task escalates to a person instead of spending its budget.",
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
    step: int = Field(ge=0)
    model: str
    tools: list[str]
    opening: Opening | None = None
    observation: Observation | None = None


class ToolCall(_Contract):
    """Input of every tool activity (the activity's name is the tool's name)."""

    task_id: str
    step: int
    idempotency_key: str = Field(
        description="workflow id / first run id / step: unique per task run (a workflow id "
        "reused after its run closed gets new keys), stable across retries, replays and "
        "continue-as-new."
    )
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolOutcome(_Contract):
    """Output of every tool activity. ``ok=False`` is an answer the model can read (not found,
    out of stock), not an infrastructure failure; those raise and are retried by Temporal."""

    ok: bool
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    summary: str = ""
    latency_ms: float = 0.0
    attempt: int = Field(default=1, description="Which attempt of the tool activity this is.")

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


GateAction = Literal["auto", "review", "deny"]


class GateVerdict(_Contract):
    """The policy's verdict on a proposed action, with its reason in words."""

    action: GateAction
    reason: str = ""


ReviewVerdict = Literal["approve", "edit", "reject", "answer"]


class ReviewDecision(_Contract):
    """A reviewer's decision: the input of the ``submit_review`` signal and ``review`` update.

    ``step`` is the step number that ``pending`` and ``trace`` show (1-based); a decision for a
    step that is no longer pending is stale and refused.
    """

    reviewer: str = Field(min_length=1)
    step: int = Field(ge=1)
    verdict: ReviewVerdict
    arguments: dict[str, Any] | None = Field(default=None, description="New arguments (edit).")
    answer: str | None = Field(default=None, description="The reviewer's own answer (answer).")
    comment: str = ""


class ReviewReceipt(_Contract):
    """Output of the ``review`` update: the decision was accepted for this step."""

    step: int
    verdict: ReviewVerdict
    tier: str


class PendingReview(_Contract):
    """A proposed action waiting for a person."""

    step: int
    tool: str
    arguments: dict[str, Any]
    reason: str
    tier: str
    reviewers: list[str]
    requested_at: datetime
    deadline_at: datetime
    summary: str = ""


class ReviewRecord(_Contract):
    """The verdict a step received, as recorded in its step record."""

    reviewer: str
    verdict: ReviewVerdict
    tier: str
    via: Literal["signal", "update"]
    arguments: dict[str, Any] | None = None
    answer: str | None = None
    comment: str = ""
    requested_at: datetime
    decided_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wait_seconds(self) -> float:
        return (self.decided_at - self.requested_at).total_seconds()


class IgnoredReview(_Contract):
    """A decision that arrived by signal and was refused (the update path raises instead)."""

    decision: Any = Field(
        description="The decision as received: a ``ReviewDecision``'s fields, or whatever JSON "
        "a malformed signal carried."
    )
    reason: str
    at: datetime


class ReviewNotice(_Contract):
    """Input of the ``notify_reviewers`` activity."""

    task_id: str
    pending: PendingReview


class NoticeResult(_Contract):
    delivered: bool
    detail: str = ""


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
    gate: GateVerdict | None = Field(default=None, description="The policy's verdict, if gated.")
    review: ReviewRecord | None = None
    escalations: list[str] = Field(
        default_factory=list, description="Review tiers whose deadline passed, in order."
    )


TaskStatus = Literal[
    "running",
    "answered",
    "escalated",
    "budget_exhausted",
    "failed",
    "cancelled",
    "needs_recovery",
    "awaiting_review",
    "rejected",
    "review_expired",
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
    pending_review: PendingReview | None = None
    ignored_reviews: list[IgnoredReview] = Field(default_factory=list)


class RunRecord(Trace):
    """A finished task as the run ledger keeps it (input of the ``record_run`` local activity):
    its trace, with sensitive arguments already redacted, plus when and with what it ran."""

    run_id: str
    model: str = ""
    context: dict[str, Any] = Field(default_factory=dict, description="The task's context.")
    started_at: datetime
    finished_at: datetime


class RecordedRun(_Contract):
    """Output of ``record_run``."""

    stored: bool = Field(description="False when this run was already in the ledger.")
