"""Shadow verdicts in the ledger: what a shadow rule would have let through or stopped, and what
reviewers made of it, so an operator sees the cost of a rule change before enforcing it.

A rule's shadow (``[rules.TOOL.shadow]``, ``handrail.contracts.profile.ShadowRule``) is gated
beside the enforced rule on every action of the tool and recorded on the step
(``StepRecord.shadow_gate``). Per (profile, tool), comparing the two verdicts:

- **let through**: the shadow says ``auto`` where the enforced rule sent the action to review or
  denied it. Of those a reviewer decided, the ones not approved unchanged (rejected, edited,
  answered instead) are the bad actions the shadow would have run unreviewed: the cost of
  enforcing it, with a one-sided 95% upper bound on their rate (``handrail.trust.calibration``);
- **stopped**: the shadow says ``review`` or ``deny`` where the enforced rule ran the action on its
  own: the review load it would add, and how many of those actions failed or were undone anyway.

It reads the steps from each run's stored record (``runs.record_json``), only of runs that hold a
shadow verdict or a log-probability (``handrail.storage.ledger_evidence``), so it needs no column
of its own and parses nothing on a ledger without them. The reviewed actions the calibration
needs come from the step rows (stated confidence and verdict) and, for the log-probabilities,
from the same records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from pydantic import BaseModel, Field

from handrail.contracts import RunRecord
from handrail.contracts.outcomes import action_of, step_outcomes
from handrail.storage.ledger import RunLedger
from handrail.storage.ledger_evidence import (
    REVIEWABLE_KINDS,
    reviewed_confidences,
    shadow_and_logprob_records,
)
from handrail.trust.calibration import BAD_VERDICTS, Reviewed, clopper_pearson_upper

EXAMPLES: Final = 5  # bad actions a row names, for an operator to open with `trace`
_STRICTNESS: Final = {"auto": 0, "review": 1, "deny": 2}


class ShadowTool(BaseModel):
    """One tool's enforced and shadow verdicts side by side."""

    profile: str
    tool: str
    gated: int = Field(default=0, description="Steps gated by both rules.")
    same: int = Field(default=0, description="Steps where both verdicts agree.")
    enforced_reviews: int = Field(default=0, description="Sent to review by the enforced rule.")
    shadow_reviews: int = Field(default=0, description="Would have been sent by the shadow.")
    let_through: int = Field(default=0, description="Shadow auto; enforced review or deny.")
    let_through_denied: int = Field(default=0, description="Of those, denied by the enforced.")
    let_through_reviewed: int = Field(default=0, description="Of those, decided by a reviewer.")
    let_through_bad: int = Field(
        default=0, description="Of the decided, rejected, edited or answered instead."
    )
    bad_rate_upper: float | None = Field(
        default=None,
        description="One-sided 95% upper bound on the bad share of the decided let-through "
        "actions: the error rate the shadow would run unreviewed. None: none decided.",
    )
    stopped: int = Field(default=0, description="Shadow review or deny; enforced auto.")
    stopped_failed: int = Field(
        default=0, description="Of those, actions that failed or were undone anyway."
    )
    bad_examples: list[str] = Field(
        default_factory=list, description="Up to five bad let-through steps: `task step N`."
    )


@dataclass
class Evidence:
    """What one pass over the ledger's records found for shadows and calibration."""

    shadow: list[ShadowTool] = field(default_factory=list)
    reviewed: list[Reviewed] = field(default_factory=list)


def analyse(records: Iterable[RunRecord], *, stated: bool = True) -> Evidence:
    """The shadow rows and reviewed actions of ``records`` (pure). ``stated=False``: leave the
    stated confidence out of the reviewed actions (the caller has it from the step rows)."""
    tools: dict[tuple[str, str], ShadowTool] = {}
    reviewed: list[Reviewed] = []
    for record in records:
        for step, outcome in step_outcomes(record):
            action = action_of(step)
            review = step.review
            reviewable = step.decision.kind in REVIEWABLE_KINDS
            if review is not None and reviewable and (stated or step.decision.logprob_confidence):
                reviewed.append(
                    Reviewed(
                        profile=record.profile,
                        tool=action,
                        stated=step.decision.confidence if stated else None,
                        logprob=step.decision.logprob_confidence,
                        bad=review.verdict in BAD_VERDICTS,
                    )
                )
            enforced, shadow = step.gate, step.shadow_gate
            if enforced is None or shadow is None:
                continue
            row = tools.get((record.profile, action))
            if row is None:
                row = tools[(record.profile, action)] = ShadowTool(
                    profile=record.profile, tool=action
                )
            row.gated += 1
            row.same += enforced.action == shadow.action
            row.enforced_reviews += enforced.action == "review"
            row.shadow_reviews += shadow.action == "review"
            if shadow.action == "auto" and enforced.action != "auto":
                row.let_through += 1
                row.let_through_denied += enforced.action == "deny"
                if review is not None:
                    row.let_through_reviewed += 1
                    if review.verdict in BAD_VERDICTS:
                        row.let_through_bad += 1
                        if len(row.bad_examples) < EXAMPLES:
                            row.bad_examples.append(
                                f"{record.task_id} step {step.step} ({review.verdict})"
                            )
            elif _STRICTNESS[shadow.action] > _STRICTNESS[enforced.action] == 0:
                row.stopped += 1
                row.stopped_failed += outcome in ("failure", "compensated")
    for row in tools.values():
        if row.let_through_reviewed:
            row.bad_rate_upper = clopper_pearson_upper(
                row.let_through_bad, row.let_through_reviewed
            )
    return Evidence(
        shadow=sorted(tools.values(), key=lambda row: (row.profile, row.tool)), reviewed=reviewed
    )


def read_evidence(ledger: RunLedger, *, since: datetime | None = None) -> Evidence:
    """Shadow rows and reviewed actions from the ledger (runs finished since ``since``): the
    stated confidences from the step rows (SQL), the rest from the records that hold it."""
    found = analyse(shadow_and_logprob_records(ledger, since=since), stated=False)
    found.reviewed += [
        Reviewed(profile, action, confidence, None, verdict in BAD_VERDICTS)
        for profile, action, confidence, verdict in reviewed_confidences(ledger, since=since)
    ]
    return found
