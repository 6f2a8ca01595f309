"""``AgentWorkflow``: one agent task as a durable, deterministic loop.

load profile → (decide → act → record)* → commit | roll back

- commit: after the final answer, deferred irreversible actions run (``handrail.policy``);
- roll back: on failure, cancellation, escalation or an exhausted budget (steps, tokens, wall
  time), every done step is compensated in reverse (``workflows.saga``). A compensation that
  cannot succeed fails the task as ``NeedsManualRecovery``, naming the effects to repair.

No I/O here: the profile, the model and the tools are activities; time is ``workflow.now()``.
The conversation lives in the ``decide`` activity's store, so each step adds a bounded number of
bytes to history whatever the step count.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from handrail import search_attributes as sa
    from handrail.contracts import (
        AgentTask,
        DecideRequest,
        Decision,
        GateVerdict,
        LoadProfileRequest,
        Observation,
        Opening,
        PendingCompensation,
        PendingReview,
        Profile,
        RecordedRun,
        ReviewDecision,
        ReviewReceipt,
        ReviewTier,
        RunRecord,
        StepRecord,
        TaskResult,
        TaskStatus,
        ToolBinding,
        ToolCall,
        ToolOutcome,
        Trace,
        TraceRequest,
    )
    from handrail.errors import ErrorType, describe_validation_error
    from handrail.names import REVIEW_SIGNAL, REVIEW_UPDATE, TRACE_QUERY, WORKFLOW_TYPE
    from handrail.policy import gate_decision, gate_final_answer, when_to_run
    from handrail.redaction import redact, redact_step
    from handrail.workflows import options, steps
    from handrail.workflows.calls import call_activity
    from handrail.workflows.review import ReviewDesk
    from handrail.workflows.saga import Saga

# Versioning: runs that started before the policy gate existed replay without it (their
# recorded steps ran ungated); every run started since records this marker and is gated.
_POLICY_GATE_PATCH = "policy-gate-v1"
_OBSERVABILITY_PATCH = "observability-v1"

# Runs started before these safety rules replay as they ran: keys of workflow id + step (shared
# by every run that reused the id), final answers ungated, no limit on refusals in a row.
_RUN_SCOPED_SAFETY_PATCH = "run-keys-answer-gate-refusal-limit-v1"


def _problem(decision: Decision) -> str:
    return json.dumps({"error": decision.problem or "the reply could not be used"})


# A task whose input does not validate (no goal, wrong types) fails at once with pydantic's
# message naming the field, instead of failing its workflow task and retrying forever.
@workflow.defn(name=WORKFLOW_TYPE, failure_exception_types=[ValidationError])
class AgentWorkflow:
    @workflow.init
    def __init__(self, task: AgentTask) -> None:
        self._task = task
        self._status: TaskStatus = "running"
        self._answer: str | None = None
        self._error: str | None = None
        self._steps: list[StepRecord] = []
        self._saga = Saga()
        self._deferred: list[steps.Deferred] = []
        self._profile: Profile | None = None
        self._desk = ReviewDesk()
        self._observed = False
        self._run_scoped = False
        self._started_at = workflow.now()

    @workflow.run
    async def run(self, task: AgentTask) -> TaskResult:
        self._started_at = workflow.now()
        # Runs recorded before status attributes and the run ledger existed replay without them.
        self._observed = workflow.patched(_OBSERVABILITY_PATCH)
        self._run_scoped = workflow.patched(_RUN_SCOPED_SAFETY_PATCH)
        self._publish_status()
        try:
            status, answer = await self._work(task)
            if status == "answered":
                await self._commit()
                result = self._finish(status, answer)
                await self._record_run()
                return result
        except BaseException as error:
            # Failure or cancellation: undo, then let the original error end the run.
            cancelled = is_cancelled_exception(error)
            self._status = "cancelled" if cancelled else "failed"
            self._error = "cancelled" if cancelled else str(error)
            try:
                await self._roll_back()
            finally:
                await self._record_run()
            if not cancelled and isinstance(error, ApplicationError):
                raise ApplicationError(
                    f"{error.message}; rolled back {len(self._saga.records)} step(s)",
                    type=error.type,
                    non_retryable=True,
                ) from error
            raise
        # Escalated or out of budget: fail safe, leave the world as the task found it.
        try:
            await self._roll_back()
        finally:
            result = self._finish(status, answer)
            await self._record_run()
        return result

    async def _work(self, task: AgentTask) -> tuple[TaskStatus, str | None]:
        info = workflow.info()
        started = workflow.now()
        workflow.set_current_details(f"Loading profile {task.profile!r}")
        profile = await call_activity(
            "load_profile",
            LoadProfileRequest(name=task.profile),
            Profile,
            start_to_close_timeout=options.PROFILE_TIMEOUT,
            retry_policy=options.PROFILE_RETRY,
            summary=f"profile {task.profile}",
        )
        self._profile = profile
        # The first run's id keeps the conversation apart from an earlier task that reused
        # this workflow id, and stays the same across continue-as-new.
        conversation_id = f"{info.workflow_id}/{info.first_execution_run_id}"
        observation: Observation | None = None
        refusals = 0  # refused steps in a row
        for step in range(profile.max_steps):
            if self._over_budget(profile, started):
                return "budget_exhausted", None
            workflow.set_current_details(
                f"Step {step + 1} of at most {profile.max_steps}: deciding"
            )
            started_at = workflow.now()
            decision = await call_activity(
                "decide",
                DecideRequest(
                    conversation_id=conversation_id,
                    step=step,
                    model=profile.model,
                    tools=profile.tool_names,
                    # Lets a worker that has not listed the profile's MCP servers find them.
                    profile=profile.name if profile.mcp_servers else None,
                    opening=Opening(
                        system_prompt=profile.system_prompt, goal=task.goal, context=task.context
                    )
                    if step == 0
                    else None,
                    observation=observation,
                ),
                Decision,
                start_to_close_timeout=options.DECIDE_TIMEOUT,
                retry_policy=options.DECIDE_RETRY,
                summary=f"decide step {step + 1} ({profile.model})",
            )
            record = StepRecord(index=step, started_at=started_at, decision=decision)
            self._steps.append(record)

            if decision.kind == "final_answer":
                return await self._final_answer(profile, record)
            if decision.kind == "escalate":
                record.note = "the model asked for a human"
                return "escalated", decision.answer

            if decision.kind != "tool_call":
                # Malformed: tell the model what was wrong, on the step budget.
                record.note = f"refused: {decision.problem or 'the reply could not be used'}"
                observation = Observation(
                    tool_call_id=decision.tool_call_id, content=_problem(decision)
                )
                refusals += 1
                if self._too_many_refusals(profile, refusals, record):
                    return "escalated", None
                continue

            key = self._action_key(step)
            if workflow.patched(_POLICY_GATE_PATCH):
                verdict = gate_decision(
                    profile,
                    decision,
                    spent=steps.money_spent(profile, self._steps),
                    sample_key=key,
                )
            else:  # a run recorded before the gate existed replays as it ran
                verdict = GateVerdict(action="auto", reason="recorded before the policy gate")
            record.gate = verdict
            arguments = decision.arguments
            if verdict.action == "deny":
                record.note = f"denied by policy: {verdict.reason}"
                content = json.dumps({"error": record.note})
                observation = Observation(tool_call_id=decision.tool_call_id, content=content)
                refusals += 1
                if self._too_many_refusals(profile, refusals, record):
                    return "escalated", None
                continue
            refusals = 0
            if verdict.action == "review":
                review = await self._await_review(profile, record)
                if review is None:
                    self._error = f"no reviewer decided step {step + 1} before the last deadline"
                    return "review_expired", None
                if review.verdict == "reject":
                    self._error = f"step {step + 1} rejected by {review.reviewer}"
                    return "rejected", None
                if review.verdict == "answer":
                    record.note = f"answered by reviewer {review.reviewer}"
                    return "answered", review.answer
                if review.verdict == "edit" and review.arguments is not None:
                    arguments = review.arguments

            binding = profile.binding(decision.tool or "")
            assert binding is not None  # the gate denies tools the profile does not allow
            if when_to_run(binding) == "at_commit":
                self._deferred.append(steps.Deferred(binding, record, arguments))
                record.deferred = True
                record.note = f"{binding.name} deferred: irreversible, runs when the task commits"
                content = json.dumps({"status": "scheduled", "detail": record.note})
            else:
                workflow.set_current_details(f"Step {step + 1}: running {binding.name}")
                outcome = await self._act(binding, record, arguments)
                content = outcome.for_model()
            observation = Observation(tool_call_id=decision.tool_call_id, content=content)

        self._error = f"step budget spent: {profile.max_steps} steps"
        return "budget_exhausted", None

    def _action_key(self, step: int) -> str:
        """The idempotency key of this run's action at ``step``. The first run's id makes it
        unique per task run (a workflow id reused after its run closed must neither inherit nor
        undo an earlier run's effects) and keeps it across retries, replays and
        continue-as-new."""
        info = workflow.info()
        if self._run_scoped:
            return f"{info.workflow_id}/{info.first_execution_run_id}/{step}"
        return f"{info.workflow_id}/{step}"  # runs recorded before run-scoped keys

    def _too_many_refusals(self, profile: Profile, refusals: int, record: StepRecord) -> bool:
        """After ``max_consecutive_refusals`` refused steps in a row the task escalates, so a
        person sees a model that keeps proposing what cannot run, instead of the model spending
        the whole step budget on it."""
        if not self._run_scoped or refusals < profile.max_consecutive_refusals:
            return False
        self._error = (
            f"{refusals} refused steps in a row (max_consecutive_refusals = "
            f"{profile.max_consecutive_refusals}); last: {record.note}"
        )
        record.note += "; escalated: too many refused steps in a row"
        return True

    async def _final_answer(
        self, profile: Profile, record: StepRecord
    ) -> tuple[TaskStatus, str | None]:
        """End with the model's answer if the policy lets it, else as a reviewer decides."""
        answer = record.decision.answer
        if not self._run_scoped:  # recorded before final answers were gated
            record.note = "answered"
            return "answered", answer
        record.gate = gate_final_answer(
            profile, record.decision, changed_world=steps.changed_world(profile, self._steps)
        )
        if record.gate.action == "auto":
            record.note = "answered"
            return "answered", answer
        review = await self._await_review(profile, record)
        if review is None:
            self._error = (
                f"no reviewer decided the final answer (step {record.index + 1}) "
                "before the last deadline"
            )
            return "review_expired", None
        if review.verdict == "reject":
            self._error = f"final answer (step {record.index + 1}) rejected by {review.reviewer}"
            return "rejected", None
        if review.verdict == "answer":
            return "answered", review.answer
        if review.verdict == "edit" and review.arguments is not None:
            return "answered", str(review.arguments["answer"])
        return "answered", answer

    def _over_budget(self, profile: Profile, started: datetime) -> bool:
        tokens = steps.tokens(self._steps)
        if profile.max_tokens is not None and tokens >= profile.max_tokens:
            self._error = f"token budget spent: {tokens} of {profile.max_tokens}"
            return True
        # The time budget bounds the agent's own work: time spent waiting for people does not
        # count, or every review longer than the budget would roll the task back.
        waited = steps.people_wait(profile, self._steps)
        elapsed = (workflow.now() - started).total_seconds() - waited
        if profile.max_duration_seconds is not None and elapsed >= profile.max_duration_seconds:
            self._error = f"time budget spent: {elapsed:.0f} s of {profile.max_duration_seconds:g}"
            return True
        return False

    async def _await_review(self, profile: Profile, record: StepRecord) -> ReviewDecision | None:
        reason = record.gate.reason if record.gate else ""
        tool, arguments = steps.proposal(record.decision)
        binding = profile.binding(tool)
        if binding is not None:
            summary = steps.describe_call(binding, arguments)
        else:  # a final answer: its text is what the reviewer judges
            summary = steps.one_line(f"{tool}: {arguments.get('answer', '')}")

        def pending_for(tier: ReviewTier, reviewers: list[str]) -> PendingReview:
            now = workflow.now()
            return PendingReview(
                step=record.index + 1,
                tool=tool,
                arguments=redact(arguments, binding.sensitive if binding else []),
                reason=reason,
                tier=tier.name,
                reviewers=reviewers,
                requested_at=now,
                deadline_at=now + tier.deadline,
                summary=summary,
            )

        if not profile.review_tiers:
            record.note = "needs review, but the profile names no reviewers: fail safe"
            return None
        self._status = "awaiting_review"
        self._publish_status()
        review = await self._desk.wait(profile, record, pending_for)
        self._status = "running"
        self._publish_status()
        if review is not None:
            record.note = f"{review.verdict} by {review.reviewer}"
        else:
            record.note = f"no decision before the last deadline ({', '.join(record.escalations)})"
        return review

    async def _act(
        self, binding: ToolBinding, record: StepRecord, arguments: dict[str, Any]
    ) -> ToolOutcome:
        """Run one tool for ``record``; side effects push their undo first."""
        info = workflow.info()
        key = self._action_key(record.index)
        call = ToolCall(
            task_id=info.workflow_id,
            step=record.index,
            idempotency_key=key,
            arguments=arguments,
            # An MCP server's one call activity serves all its tools: it needs the name.
            tool=binding.name if binding.activity else None,
        )
        activity_name = binding.activity or binding.name
        summary = steps.describe_call(binding, arguments)
        if binding.read_only:
            outcome = await call_activity(
                activity_name,
                call,
                ToolOutcome,
                local=True,
                start_to_close_timeout=options.READ_TOOL_TIMEOUT,
                retry_policy=options.READ_TOOL_RETRY,
                summary=summary,
            )
        else:
            if binding.compensation is not None:
                self._saga.push(
                    PendingCompensation(
                        step=record.index,
                        tool=binding.name,
                        compensation=binding.compensation,
                        idempotency_key=key,
                    )
                )
            outcome = await call_activity(
                activity_name,
                call,
                ToolOutcome,
                start_to_close_timeout=options.ACTION_TIMEOUT,
                retry_policy=options.ACTION_RETRY,
                summary=summary,
            )
        record.outcome = outcome
        ran = f"ran {binding.name}" + ("" if outcome.ok else f": {outcome.error}")
        record.note = f"{record.note}; {ran}" if record.review else ran
        return outcome

    async def _commit(self) -> None:
        """The commit point: run deferred irreversible actions, in the order they were asked."""
        for deferred in self._deferred:
            workflow.set_current_details(f"Committing: {deferred.binding.name}")
            await self._act(deferred.binding, deferred.record, deferred.arguments)
        self._deferred.clear()

    async def _roll_back(self) -> None:
        for deferred in self._deferred:
            deferred.record.note = f"{deferred.binding.name} never ran: the task rolled back"
        self._deferred.clear()
        if self._saga.pending:
            workflow.set_current_details(f"Rolling back {self._saga.pending} step(s)")
            await self._saga.compensate(workflow.info().workflow_id)
        unrecovered = self._saga.unrecovered
        if unrecovered:
            self._status = "needs_recovery"
            effects = "; ".join(
                f"{r.tool} at step {r.step + 1} (key {r.idempotency_key}): {r.detail}"
                for r in unrecovered
            )
            self._error = f"needs manual recovery: {effects}"
            workflow.set_current_details(f"NEEDS MANUAL RECOVERY: {effects}")
            raise ApplicationError(
                self._error, type=ErrorType.NEEDS_MANUAL_RECOVERY, non_retryable=True
            )

    def _finish(self, status: TaskStatus, answer: str | None) -> TaskResult:
        if self._status != "needs_recovery":
            self._status, self._answer = status, answer
        workflow.set_current_details(f"Finished: {self._status}")
        return TaskResult(
            task_id=workflow.info().workflow_id,
            status=self._status,
            answer=self._answer,
            steps=self._visible_steps(),
            compensations=self._saga.records,
        )

    def _visible_steps(self) -> list[StepRecord]:
        """The steps with sensitive arguments redacted: what traces, results and the ledger
        show."""
        return [redact_step(step, self._profile) for step in self._steps]

    def _publish_status(self) -> None:
        """Search attributes an operator filters on in the UI: profile, status, token spend."""
        if self._observed:
            workflow.upsert_search_attributes(
                [
                    sa.PROFILE.value_set(self._task.profile),
                    sa.STATUS.value_set(self._status),
                    sa.TOKENS.value_set(steps.tokens(self._steps)),
                ]
            )

    async def _record_run(self) -> None:
        """Write the finished run to the ledger (stats, export, metrics). A local activity: its
        input, the whole trace, stays out of history; a failure to record never fails the task."""
        if not self._observed:
            return
        self._publish_status()
        record = RunRecord(
            **self.trace().model_dump(),
            run_id=workflow.info().run_id,
            model=self._profile.model if self._profile else "",
            context=self._task.context,
            started_at=self._started_at,
            finished_at=workflow.now(),
        )
        try:
            await workflow.execute_local_activity(
                "record_run",
                record,
                result_type=RecordedRun,
                start_to_close_timeout=options.RECORD_TIMEOUT,
                retry_policy=options.RECORD_RETRY,
                summary="record run",
            )
        except ActivityError as error:
            workflow.logger.warning("run not recorded in the ledger: %s", error)

    @workflow.signal(name=REVIEW_SIGNAL)
    def submit_review(self, received: RawValue) -> None:
        """A reviewer's decision. One that cannot count (malformed, stale, unauthorised, invalid
        edit) is recorded in the trace as ignored: a signal has no caller to answer. It arrives
        raw so that a malformed one is recorded too, not dropped by the SDK with a log line."""
        try:
            data = workflow.payload_converter().from_payload(received.payload)
        except Exception as error:  # not JSON at all: record what can be said of it
            self._ignore_review(None, f"invalid review: cannot decode the signal ({error})")
            return
        try:
            decision = ReviewDecision.model_validate(data)
        except ValidationError as error:
            self._ignore_review(data, describe_validation_error("review", error))
            return
        refusal = self._desk.refusal(self._profile, decision)
        if refusal is not None:
            self._ignore_review(decision, refusal.reason)
            return
        self._desk.take(decision, "signal")

    def _ignore_review(self, received: Any, reason: str) -> None:
        workflow.logger.warning("review ignored: %s", reason)
        self._desk.ignore(received, reason)

    @workflow.update(name=REVIEW_UPDATE)
    def review(self, decision: ReviewDecision) -> ReviewReceipt:
        """A reviewer's decision, refused at once (by the validator) if it cannot count."""
        self._refuse_if_cannot_count(decision)  # another decision may have got in since
        pending = self._desk.pending
        assert pending is not None
        self._desk.take(decision, "update")
        return ReviewReceipt(step=decision.step, verdict=decision.verdict, tier=pending.tier)

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        self._refuse_if_cannot_count(decision)

    def _refuse_if_cannot_count(self, decision: ReviewDecision) -> None:
        # Typed and non-retryable: a client (any SDK, the CLI) tells the reasons apart by type
        # and never retries a decision that will be refused again.
        refusal = self._desk.refusal(self._profile, decision)
        if refusal is not None:
            raise ApplicationError(refusal.reason, type=refusal.type, non_retryable=True)

    @workflow.query(name=TRACE_QUERY)
    def trace(self, _request: TraceRequest | None = None) -> Trace:
        return Trace(
            task_id=workflow.info().workflow_id,
            goal=self._task.goal,
            profile=self._task.profile,
            status=self._status,
            answer=self._answer,
            steps=self._visible_steps(),
            compensations=self._saga.records,
            error=self._error,
            pending_review=self._desk.pending,
            ignored_reviews=self._desk.ignored,
        )
