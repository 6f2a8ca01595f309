"""A task from start to end: its input and limits, status, result, trace and ledger record."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import ConfigDict, Field, computed_field, field_validator, model_validator

# Imported at run time, not under TYPE_CHECKING: pydantic resolves these annotations from this
# module's namespace when it builds the models.
from handrail.contracts._base import _Contract
from handrail.contracts._numbering import compensations_from_legacy
from handrail.contracts.continuation import Continuation
from handrail.contracts.review import IgnoredReview, PendingReview
from handrail.contracts.steps import StepRecord
from handrail.contracts.tool_calls import CompensationRecord

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
        default="",
        pattern=r"^[A-Za-z0-9_-]{0,64}$",
        description="Name of the profile that sets the tools, model, prompt and budgets; empty: "
        "the default profile of the client's or worker's settings (HANDRAIL_DEFAULT_PROFILE).",
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
    continued: Continuation | None = Field(
        default=None,
        description="Set by Handrail when a long task continues as new; never by a caller.",
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
    "commit_failed",
]
"""``commit_failed``: an action held back to the commit point failed there; the answer was not
delivered (``error`` says which action, its step, why, and whether earlier effects were rolled
back or kept)."""


class TaskResult(_Contract):
    """Output of ``AgentWorkflow``."""

    task_id: str
    status: TaskStatus
    answer: str | None = None
    error: str | None = Field(
        default=None, description="Why the task did not end with a delivered answer, in words."
    )
    steps: list[StepRecord] = Field(default_factory=list)
    compensations: list[CompensationRecord] = Field(
        default_factory=list, description="What was undone when the task did not commit."
    )
    earlier_steps: int = Field(
        default=0,
        description="Steps of a long task not listed in `steps` (it continued as new; the "
        "newest steps are listed, the run ledger has every run's).",
    )

    @model_validator(mode="before")
    @classmethod
    def _numbered_from_one(cls, data: Any) -> Any:
        return compensations_from_legacy(data, "steps", "compensations")

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
    earlier_steps: int = Field(default=0, description="Steps not listed (see TaskResult).")

    @model_validator(mode="before")
    @classmethod
    def _numbered_from_one(cls, data: Any) -> Any:
        return compensations_from_legacy(data, "steps", "compensations")


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
