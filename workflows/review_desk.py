"""The review desk: a proposed action waits here for a person, tier by tier.

Workflow code (deterministic). The workflow's ``submit_review`` signal and ``review`` update
hand decisions to ``ReviewDesk``; one rule (``refusal``) says which decisions count, so the
update's validator refuses exactly what the signal records and ignores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from handrail import search_attributes as sa
    from handrail.contracts import (
        IgnoredReview,
        PendingReview,
        Profile,
        ReviewDecision,
        ReviewNotice,
        ReviewRecord,
        ReviewTier,
        StepRecord,
    )
    from handrail.errors import ErrorType
    from handrail.policy.redaction import redact
    from handrail.review.fingerprint import proposal_fingerprint
    from handrail.workflows import steps, stubs
    from handrail.workflows.edits import (
        EDIT_LIMITS_PATCH,
        EDIT_SCOPE_PATCH,
        EditRules,
        Refusal,
        edit_refusal,
        edited_arguments,
    )

Via = str  # "signal" | "update"

# Pending reviews carry a fingerprint, and decisions naming another one are refused, only in
# runs that reached a review with this code. A refused update writes nothing to history (the
# validator runs before it is accepted, and not at all on replay), so the validator alone would
# need no patch. But the same rule (``ReviewDesk.refusal``) also runs in the signal handler and
# in the accepted update's handler, and both replay: a decision in an existing history that
# carried a ``fingerprint`` key (ignored then, as an unknown field) could now be refused, and
# the run would wait where it went on. Unpatched runs publish no fingerprint, so nothing is
# checked. The marker is written once per run, at its first review (no cost to other tasks).
_FINGERPRINT_PATCH = "review-fingerprint-v1"


def allowed_reviewers(tiers: list[ReviewTier], index: int) -> list[str]:
    """Who may decide at tier ``index``: its reviewers and every later (higher) tier's."""
    names: list[str] = []
    for tier in tiers[index:]:
        names += [name for name in tier.reviewers if name not in names]
    return names


class ReviewDesk:
    """Pending review state of one task: at most one step waits at a time."""

    def __init__(
        self,
        spent: Callable[[Profile], Mapping[str, Decimal]] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """``spent``: what the task already moved per tool, for an edit's ``task_limit``;
        ``context``: the task's, whose scope an edit must stay within (``workflows.edits``)."""
        self.pending: PendingReview | None = None
        self.ignored: list[IgnoredReview] = []
        self._decision: tuple[ReviewDecision, Via] | None = None
        self._spent = spent
        self._context = context
        # Set at each review by the edit patches: runs recorded before them checked an edit
        # with less, and the edits they accepted must replay as taken.
        self._edit_rules = EditRules()

    def refusal(self, profile: Profile | None, decision: ReviewDecision) -> Refusal | None:
        """Why ``decision`` cannot be taken now, or None if it can."""
        pending = self.pending
        if pending is None or self._decision is not None:
            return Refusal(
                ErrorType.REVIEW_STALE, f"stale: step {decision.step} is not awaiting review"
            )
        if decision.step != pending.step:
            return Refusal(
                ErrorType.REVIEW_STALE,
                f"stale: step {decision.step} is not awaiting review (step {pending.step} is)",
            )
        bound, shown = decision.fingerprint, pending.fingerprint
        if bound is not None and shown is not None and bound != shown:
            return Refusal(
                ErrorType.REVIEW_FINGERPRINT_MISMATCH,
                f"the decision is for proposal {bound}, but step {pending.step} now proposes "
                f"{shown} ({pending.summary}): the reviewer saw something else; review it again",
            )
        if decision.reviewer not in pending.reviewers:
            return Refusal(
                ErrorType.REVIEW_UNAUTHORISED,
                f"{decision.reviewer!r} may not review at tier {pending.tier!r} "
                f"(allowed: {', '.join(pending.reviewers)})",
            )
        if decision.verdict == "edit":
            spent = None
            if self._edit_rules.count_spent and self._spent is not None and profile is not None:
                spent = self._spent(profile)
            return edit_refusal(
                profile,
                pending.tool,
                decision.arguments,
                rules=self._edit_rules,
                spent=spent,
                context=self._context,
            )
        if decision.verdict == "answer" and not (decision.answer or "").strip():
            return Refusal(ErrorType.REVIEW_INCOMPLETE, "an answer needs its text")
        return None

    def take(self, decision: ReviewDecision, via: Via) -> None:
        self._decision = (decision, via)

    def ignore(self, received: Any, reason: str) -> None:
        """Record a signalled decision that cannot count, as it was received."""
        if isinstance(received, ReviewDecision):
            received = received.model_dump(mode="json")
        self.ignored.append(IgnoredReview(decision=received, reason=reason, at=workflow.now()))

    async def ask(
        self, profile: Profile, record: StepRecord, on_status: Callable[[bool], None]
    ) -> ReviewDecision | None:
        """Ask reviewers about ``record``'s proposal (an action or a final answer) and wait for
        a decision; ``on_status(True)`` while waiting. None: no decision before the last
        deadline, or no reviewers at all (the caller fails safe)."""
        reason = record.gate.reason if record.gate else ""
        tool, arguments = steps.proposal(record.decision)
        binding = profile.binding(tool)
        if binding is not None:
            summary = steps.describe_call(binding, arguments)
        else:  # a final answer: its text is what the reviewer judges
            summary = steps.one_line(f"{tool}: {arguments.get('answer', '')}")
        if not profile.review_tiers:
            record.note = "needs review, but the profile names no reviewers: fail safe"
            return None
        shown = redact(arguments, binding.sensitive if binding else [])
        count_spent = workflow.patched(EDIT_LIMITS_PATCH)
        fingerprint: str | None = None
        if workflow.patched(_FINGERPRINT_PATCH):
            info = workflow.info()
            fingerprint = proposal_fingerprint(
                task_id=info.workflow_id,
                run_id=info.first_execution_run_id,
                step=record.step,
                tool=tool,
                arguments=shown,
            )
        # Asked after the patches above, in the order runs recorded them.
        self._edit_rules = EditRules(
            count_spent=count_spent, within_scope=workflow.patched(EDIT_SCOPE_PATCH)
        )

        def pending_for(tier: ReviewTier, reviewers: list[str]) -> PendingReview:
            now = workflow.now()
            return PendingReview(
                step=record.step,
                tool=tool,
                arguments=shown,
                reason=reason,
                tier=tier.name,
                reviewers=reviewers,
                requested_at=now,
                deadline_at=now + tier.deadline,
                summary=summary,
                fingerprint=fingerprint,
            )

        on_status(True)
        review = await self.wait(profile, record, pending_for)
        on_status(False)
        if review is not None:
            record.note = f"{review.verdict} by {review.reviewer}"
        else:
            record.note = f"no decision before the last deadline ({', '.join(record.escalations)})"
        return review

    async def wait(
        self,
        profile: Profile,
        record: StepRecord,
        pending_for: Callable[[ReviewTier, list[str]], PendingReview],
    ) -> ReviewDecision | None:
        """Wait for a decision on ``record``, escalating tier by tier at each deadline.

        Returns the decision (also written to ``record.review``), or None when the last tier's
        deadline passed: the caller then fails safe.
        """
        tiers = profile.review_tiers
        requested_at = workflow.now()
        discarded = False
        try:
            for index, tier in enumerate(tiers):
                self.pending = pending_for(tier, allowed_reviewers(tiers, index))
                await self._post(self.pending)
                try:
                    await workflow.wait_condition(
                        lambda: self._decision is not None, timeout=tier.deadline
                    )
                except TimeoutError:
                    record.escalations.append(tier.name)
                    continue
                taken = self._decision
                assert taken is not None
                record.review = self._review_record(profile, record, taken, tier, requested_at)
                return taken[0]
            return None
        except GeneratorExit:
            discarded = True  # see AgentWorkflow.run: no workflow call may run now
            raise
        finally:
            if not discarded:
                self._clear_pending()

    async def _post(self, pending: PendingReview) -> None:
        """Show the pending review where people look: the UI's search attributes and current
        details, and a notice to the tier's reviewers."""
        workflow.upsert_search_attributes(
            [
                sa.AWAITING_REVIEW.value_set(True),
                sa.REVIEW_TIER.value_set(pending.tier),
                sa.REVIEW_TOOL.value_set(pending.tool),
            ]
        )
        workflow.set_current_details(
            f"AWAITING REVIEW by {pending.tier} ({', '.join(pending.reviewers)}) "
            f"until {pending.deadline_at:%Y-%m-%d %H:%M} UTC: "
            f"{pending.summary}. Reason: {pending.reason}. Decide with the "
            f"'review' update or the 'submit_review' signal, step {pending.step}."
        )
        await self._notify(pending)

    @staticmethod
    def _review_record(
        profile: Profile,
        record: StepRecord,
        taken: tuple[ReviewDecision, Via],
        tier: ReviewTier,
        requested_at: datetime,
    ) -> ReviewRecord:
        """The decision ``taken`` at ``tier``, as the step's record keeps it: an edit as it
        will run, and when it was asked for and given."""
        decision, via = taken
        return ReviewRecord(
            reviewer=decision.reviewer,
            verdict=decision.verdict,
            tier=tier.name,
            via="signal" if via == "signal" else "update",
            arguments=edited_arguments(profile, record, decision),
            answer=decision.answer if decision.verdict == "answer" else None,
            comment=decision.comment,
            fingerprint=decision.fingerprint,
            requested_at=requested_at,
            decided_at=workflow.now(),
        )

    def _clear_pending(self) -> None:
        self.pending, self._decision = None, None
        workflow.upsert_search_attributes(
            [
                sa.AWAITING_REVIEW.value_set(False),
                sa.REVIEW_TIER.value_unset(),
                sa.REVIEW_TOOL.value_unset(),
            ]
        )

    async def _notify(self, pending: PendingReview) -> None:
        # A notice that cannot be delivered must not fail the task: the pending review is
        # visible in the UI and through `starter.py pending` anyway.
        try:
            await stubs.notify_reviewers(
                ReviewNotice(task_id=workflow.info().workflow_id, pending=pending),
                f"notify {pending.tier}: {pending.summary}",
            )
        except ActivityError as error:
            workflow.logger.warning("reviewers of step %d not notified: %s", pending.step, error)
