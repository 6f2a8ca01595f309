"""One step of a task's decision path, as the trace and the result record it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

# Imported at run time, not under TYPE_CHECKING: pydantic resolves these annotations from this
# module's namespace when it builds StepRecord.
from handrail.contracts._base import _Contract
from handrail.contracts._numbering import step_from_legacy
from handrail.contracts.decisions import Decision
from handrail.contracts.review import GateVerdict, ReviewRecord
from handrail.contracts.tool_calls import ToolOutcome


class StepRecord(_Contract):
    """One step of the decision path: what was proposed, and what came of it."""

    step: int = Field(
        ge=1,
        description="The step's number, from 1: the number `pending`, reviews, the inbox and "
        "the ledger show, and a review decision names.",
    )
    started_at: datetime
    decision: Decision
    outcome: ToolOutcome | None = None
    note: str = Field(default="", description="What the workflow did with the decision, in words.")
    deferred: bool = Field(
        default=False, description="An irreversible action held back to the task's commit point."
    )
    gate: GateVerdict | None = Field(default=None, description="The policy's verdict, if gated.")
    shadow_gate: GateVerdict | None = Field(
        default=None,
        description="The verdict the tool's shadow rule would have given (log-only, never "
        "acted on); None when the rule has no shadow.",
    )
    review: ReviewRecord | None = None
    escalations: list[str] = Field(
        default_factory=list, description="Review tiers whose deadline passed, in order."
    )

    @model_validator(mode="before")
    @classmethod
    def _numbered_from_one(cls, data: Any) -> Any:
        return step_from_legacy(data)  # recorded before: ``index``, from 0
