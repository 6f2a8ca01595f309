"""What a long task carries across continue-as-new: everything the next run needs to go on as
if nothing happened — review, rollback and budgets included — and a bounded trace summary.
Set by the workflow itself; a caller never writes it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from handrail.contracts._base import _Contract
from handrail.contracts._numbering import compensations_from_legacy
from handrail.contracts.decisions import Observation
from handrail.contracts.profile import Profile
from handrail.contracts.review import IgnoredReview
from handrail.contracts.steps import StepRecord
from handrail.contracts.tool_calls import CompensationRecord, PendingCompensation

RECENT_STEPS_KEPT = 20
"""Step records a continued run carries (and a result shows): the newest ones. Older steps are
counted, and each run's own steps are in the run ledger."""


class DeferredAction(_Contract):
    """An irreversible action waiting for the commit point, by its step record."""

    record: StepRecord
    arguments: dict[str, Any] = Field(default_factory=dict)


class Continuation(_Contract):
    """The state of a task when one of its runs continued as new."""

    profile: Profile = Field(description="As the first run loaded it: one profile per task.")
    next_step: int = Field(ge=0)
    observation: Observation | None = None
    refusals: int = 0
    saga: list[PendingCompensation] = Field(default_factory=list)
    compensations: list[CompensationRecord] = Field(default_factory=list)
    deferred: list[DeferredAction] = Field(default_factory=list)
    recent_steps: list[StepRecord] = Field(default_factory=list)
    earlier_steps: int = Field(default=0, description="Steps before ``recent_steps``.")
    tokens: int = Field(default=0, description="Tokens spent by steps no longer carried.")
    agent_seconds: float = Field(default=0.0, description="The agent's own time so far.")
    money: dict[str, Decimal] = Field(
        default_factory=dict, description="Money moved so far, per tool (for task limits)."
    )
    changed_world: bool = False
    ignored_reviews: list[IgnoredReview] = Field(default_factory=list)
    runs: int = Field(default=1, description="How many runs the task has had so far.")

    @model_validator(mode="before")
    @classmethod
    def _numbered_from_one(cls, data: Any) -> Any:
        return compensations_from_legacy(data, "recent_steps", "saga", "compensations")
