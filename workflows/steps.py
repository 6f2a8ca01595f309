"""Pure helpers over a task's step records: how a call is described, what a step ran with, what
the task spent and changed. Deterministic, no Temporal calls: the workflow and tests use them
directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import Decision, Profile, StepRecord, ToolBinding
    from handrail.names import FINAL_ANSWER_TOOL
    from handrail.policy.gate import amount_of
    from handrail.policy.redaction import fill_summary, named_summary, redact

_SUMMARY_LIMIT = 200  # characters: the UI shows activity summaries on one line


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


def describe_call(binding: ToolBinding, arguments: dict[str, Any]) -> str:
    """One line naming a call for the UI, sensitive arguments redacted."""
    shown = redact(arguments, binding.sensitive)
    text = fill_summary(binding.summary, shown) if binding.summary else json.dumps(shown)
    return one_line(named_summary(binding.name, text))


def proposal(decision: Decision) -> tuple[str, dict[str, Any]]:
    """The tool and arguments a decision proposes, as a reviewer sees them: a final answer
    (by tool call or plain text) shows as ``final_answer`` with its text."""
    if decision.kind == "final_answer":
        return FINAL_ANSWER_TOOL, {"answer": decision.answer or ""}
    return decision.tool or "", decision.arguments


def arguments_run(record: StepRecord) -> dict[str, Any]:
    """The arguments a step's action ran with: a reviewer's edit wins over the model's."""
    review = record.review
    if review is not None and review.verdict == "edit" and review.arguments is not None:
        return review.arguments
    return record.decision.arguments


def expired_wait(profile: Profile, record: StepRecord) -> float:
    """Seconds a step with no decision waited on review tiers whose deadline passed (a decided
    step's ``review.wait_seconds`` already covers its whole wait)."""
    deadlines = {tier.name: tier.deadline.total_seconds() for tier in profile.review_tiers}
    return sum(deadlines.get(name, 0.0) for name in record.escalations)


def people_wait(profile: Profile, steps: list[StepRecord]) -> float:
    """Seconds the task spent waiting for reviewers (not the agent's own work)."""
    return sum(s.review.wait_seconds if s.review else expired_wait(profile, s) for s in steps)


def tokens(steps: list[StepRecord]) -> int:
    return sum(s.decision.tokens_in + s.decision.tokens_out for s in steps)


def money_spent(profile: Profile, steps: list[StepRecord]) -> dict[str, Decimal]:
    """Money this task already moved, per tool (for the policy's per-task limits)."""
    spent: dict[str, Decimal] = {}
    for record in steps:
        binding = profile.binding(record.decision.tool or "")
        if binding is None or record.outcome is None or not record.outcome.ok:
            continue
        amount = amount_of(binding, arguments_run(record))
        if amount is not None:
            spent[binding.name] = spent.get(binding.name, Decimal(0)) + amount
    return spent


def changed_world(profile: Profile, steps: list[StepRecord]) -> bool:
    """Whether an action of this task took effect or waits for the commit point."""
    for record in steps:
        binding = profile.binding(record.decision.tool or "")
        if binding is None or binding.read_only:
            continue
        if record.deferred or (record.outcome is not None and record.outcome.ok):
            return True
    return False


@dataclass
class Deferred:
    """An irreversible action waiting for the commit point."""

    binding: ToolBinding
    record: StepRecord
    arguments: dict[str, Any]
    run: Any = None
    """For a tool its framework runs (``effects.RunTool``): how to run it at the commit."""
