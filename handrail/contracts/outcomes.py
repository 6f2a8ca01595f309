"""The one classification of how a step ended, used by the run ledger (``stats``), the
``handrail.actions`` metric and the training-data export, so that all three agree.

Each step gets exactly one category, the first of :func:`step_outcome`'s rules that applies. A
step is *compensated* when it ran, succeeded and was undone when the task rolled back: its
compensation reports ``undone``, or ``already_undone`` (a retried compensation finding its own
earlier undo); a compensation that found ``nothing_to_undo`` or failed leaves the step as it was.
"""

from __future__ import annotations

from typing import Final, Literal

from handrail.contracts import RunRecord, StepRecord

Outcome = Literal[
    "success", "approved", "failure", "denied", "rejected", "escalated", "compensated", "skipped"
]
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "success",  # ran on its own (or answered) and its effect stood
    "approved",  # ran after a reviewer approved or edited it, and its effect stood
    "failure",  # the tool said no (ok=False), or the model's reply was invalid
    "denied",  # the policy refused it
    "rejected",  # a reviewer rejected it (the task rolled back)
    "escalated",  # the model escalated, or no reviewer decided before the last deadline
    "compensated",  # ran, then undone when the task rolled back
    "skipped",  # never ran: a deferred action rolled back, a reviewer answered instead
)
# Pseudo action types for decisions that are not tool calls.
NON_TOOL_ACTIONS: Final = ("final_answer", "escalate", "invalid")
UNDONE_STATUSES: Final = ("undone", "already_undone")


def action_of(step: StepRecord) -> str:
    """A step's action type: the tool's name, or the decision kind for non-tool decisions."""
    decision = step.decision
    if decision.kind == "tool_call" and decision.tool:
        return decision.tool
    return decision.kind


def compensated_steps(record: RunRecord) -> set[int]:
    """Indexes of the steps whose effect ran and was undone when the task rolled back."""
    undone = {c.step for c in record.compensations if c.status in UNDONE_STATUSES}
    return {
        s.step for s in record.steps if s.outcome is not None and s.outcome.ok and s.step in undone
    }


def step_outcome(step: StepRecord, record: RunRecord, compensated: bool) -> Outcome:
    """The one outcome category of a step (the first that applies, in this order).
    ``compensated`` is whether ``step.step`` is in :func:`compensated_steps`."""
    decision = step.decision
    if decision.kind == "final_answer":
        return "success"
    if decision.kind == "escalate":
        return "escalated"
    if decision.kind != "tool_call":
        return "failure"  # invalid: the model's reply could not be used
    gate, review = step.gate, step.review
    if gate is not None and gate.action == "deny":
        return "denied"
    if review is not None and review.verdict == "reject":
        return "rejected"
    if gate is not None and gate.action == "review" and review is None:
        expired = bool(step.escalations) or record.status == "review_expired"
        return "escalated" if expired else "skipped"
    if step.outcome is None:
        return "skipped"  # a reviewer answered instead, or a deferred action never ran
    if not step.outcome.ok:
        return "failure"
    if compensated:
        return "compensated"
    return "approved" if review is not None else "success"


def step_outcomes(record: RunRecord) -> list[tuple[StepRecord, Outcome]]:
    """Every step of a run with its category, in order."""
    undone = compensated_steps(record)
    return [(step, step_outcome(step, record, step.step in undone)) for step in record.steps]
