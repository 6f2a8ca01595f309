"""A reviewer's edit: held to the rules the model's proposal is held to.

Workflow code (deterministic). A person vouches for an edit (confidence 1), but the schema, the
money limits, the task's scope and the limit across tasks still hold: an edit is a proposal by
a person, not a way around the gate. ``ReviewDesk.refusal`` calls :func:`edit_refusal` in the
``review`` update's validator (an immediate, typed refusal) and in the ``submit_review``
signal's handler (recorded as ignored), so both refuse the same edits.

Which of these rules a run applies is decided where its review starts (``ReviewDesk.ask``),
never in the validator: a validator may not call ``workflow.patched``, and runs recorded before a
rule existed must replay the edits they accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import Profile, ReviewDecision, StepRecord
    from handrail.errors import ErrorType
    from handrail.names import FINAL_ANSWER_TOOL
    from handrail.policy.gate import beyond_shared_limit, gate
    from handrail.policy.redaction import REDACTED, sensitive_fields
    from handrail.workflows import steps

# An edit is gated with what the task already moved (its task_limit) and refuses negative amounts.
EDIT_LIMITS_PATCH = "edit-within-task-limit-v1"
# An edit keeps the model's value of a sensitive argument the reviewer saw as "[redacted]".
EDIT_HIDDEN_PATCH = "edit-keeps-hidden-values-v1"
# An edit is gated with the task's context (the rule's scope, unless the rule says
# edits_outside_scope = "allow"), amounts compare as numbers, and an amount above the tool's
# whole shared limit is refused at once. Runs recorded before gated edits without the context.
EDIT_SCOPE_PATCH = "edit-within-task-scope-v1"


@dataclass(frozen=True)
class Refusal:
    """Why a review decision cannot count: an ``ErrorType.REVIEW_*`` and the reason in words."""

    type: str
    reason: str


@dataclass(frozen=True)
class EditRules:
    """The edit rules a run applies, by the patches it reached (all off: as before them)."""

    count_spent: bool = False
    within_scope: bool = False


def _policy_refusal(reason: str) -> Refusal:
    kind = (
        ErrorType.REVIEW_INVALID_EDIT
        if reason.startswith("invalid arguments")
        else ErrorType.REVIEW_POLICY_DENIED
    )
    return Refusal(kind, f"edited arguments refused by policy: {reason}")


def edit_refusal(
    profile: Profile | None,
    tool: str,
    arguments: dict[str, Any] | None,
    *,
    rules: EditRules,
    spent: Mapping[str, Decimal] | None,
    context: Mapping[str, Any] | None,
) -> Refusal | None:
    """Why an edit of ``tool``'s proposal to ``arguments`` cannot be taken, or None.

    ``spent``: what the task already moved per tool (used when ``rules.count_spent``);
    ``context``: the task's (``AgentTask.context``, used when ``rules.within_scope``)."""
    if arguments is None:
        return Refusal(ErrorType.REVIEW_INVALID_EDIT, "an edit needs the new arguments")
    if tool == FINAL_ANSWER_TOOL:
        # Editing a final answer means rewording it: the only argument is the answer's text.
        answer = arguments.get("answer")
        if set(arguments) != {"answer"} or not isinstance(answer, str) or not answer.strip():
            return Refusal(
                ErrorType.REVIEW_INVALID_EDIT,
                'an edited final answer takes exactly {"answer": "<non-empty text>"}',
            )
        return None
    if profile is None:
        return None
    binding = profile.binding(tool)
    scoped = (
        rules.within_scope and binding is not None and binding.rule.edits_outside_scope == "refuse"
    )
    verdict = gate(
        profile,
        tool,
        arguments,
        1.0,
        spent=spent if rules.count_spent else None,
        refuse_negative=rules.count_spent or rules.within_scope,
        # None: the scope is not checked (runs before the patch, or a rule that allows it).
        context=context if scoped else None,
        amounts_as_numbers=rules.within_scope,
    )
    if verdict.action == "deny":
        return _policy_refusal(verdict.reason)
    if rules.within_scope and binding is not None:
        beyond = beyond_shared_limit(binding, arguments)
        if beyond is not None:
            return _policy_refusal(beyond)
    return None


def edited_arguments(
    profile: Profile, record: StepRecord, decision: ReviewDecision
) -> dict[str, Any] | None:
    """An edit's arguments as they will run. A reviewer edits what they were shown, where
    sensitive arguments read ``[redacted]``: such a field keeps the model's value unless the
    reviewer typed a new one (else the placeholder itself would be sent, e.g. as an email's
    body). Runs recorded before this took the arguments as sent."""
    if decision.verdict != "edit" or decision.arguments is None:
        return None
    if not workflow.patched(EDIT_HIDDEN_PATCH):
        return decision.arguments
    tool, original = steps.proposal(record.decision)
    hidden = set(sensitive_fields(profile, tool))
    return {
        key: original[key] if key in hidden and value == REDACTED and key in original else value
        for key, value in decision.arguments.items()
    }
