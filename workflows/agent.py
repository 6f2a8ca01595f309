"""``AgentWorkflow``: one agent task as a durable, deterministic workflow.

The loop is ``loop.TaskRun`` (decide → gate → review → act); what the run does to the world is
``effects.Effects`` (saga, deferred irreversible actions); the pending review is
``review_desk.ReviewDesk``. This module ties them to Temporal: the run's ending, the reviewer's
signal and update, the ``trace`` query, UI search attributes and the run ledger.

- answered: deferred irreversible actions run at the commit point, then the task completes;
- commit failed: one of them failed there, so the answer is not delivered; the earlier effects
  are rolled back, or kept when the profile says ``[commit] on_failure = "keep"``;
- failed or cancelled: every done step is compensated in reverse, then the error ends the run;
- escalated, rejected, out of budget, review expired: the same rollback, then a result saying so
  (fail safe: the world as the task found it).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from handrail import search_attributes as sa
    from handrail.contracts import (
        AgentTask,
        ReviewDecision,
        ReviewReceipt,
        RunRecord,
        StepRecord,
        TaskResult,
        TaskStatus,
        Trace,
        TraceRequest,
    )
    from handrail.errors import ErrorType, describe_validation_error
    from handrail.names import REVIEW_SIGNAL, REVIEW_UPDATE, TRACE_QUERY, WORKFLOW_TYPE
    from handrail.policy.redaction import redact_step
    from handrail.workflows import stubs
    from handrail.workflows.effects import CommitFailure
    from handrail.workflows.loop import TaskRun

_OBSERVABILITY_PATCH = "observability-v1"
# Runs started before these safety rules replay as they ran: keys of workflow id + step (shared
# by every run that reused the id), final answers ungated, no limit on refusals in a row.
_RUN_SCOPED_SAFETY_PATCH = "run-keys-answer-gate-refusal-limit-v1"
# A deferred action that fails at the commit point stops the commit and the answer is not
# delivered (commit_failed). Runs recorded before ran every deferred action and answered anyway.
# Asked only by runs that reach the commit point with actions to run.
_COMMIT_POINT_PATCH = "commit-point-truth-v1"
# Versioning: a ledger record that fails for good used to fail the task when the local activity
# raised its own error (sdk-core does not wrap a local activity's failure in ActivityError).
# Runs since log it, as intended; runs recorded before re-raise it on replay. Asked only when
# the record failed, so only such runs carry the marker.
_RECORD_NEVER_FAILS_PATCH = "record-run-never-fails-v1"


# A ValidationError raised anywhere in the run fails it (with the message naming the field)
# instead of failing its workflow task and retrying forever.
@workflow.defn(name=WORKFLOW_TYPE, failure_exception_types=[ValidationError])
class AgentWorkflow:
    # The input arrives raw and is validated here: decoded by the converter into AgentTask, a
    # bad one (blank goal, misspelt field) failed the run as a *retryable* ValidationError, which
    # a caller's workflow retry policy would retry for nothing. Same payload, same commands for
    # a valid one, so runs recorded before replay unchanged.
    @workflow.init
    def __init__(self, task: Any) -> None:
        self._invalid: str | None = None
        try:
            self._task = AgentTask.model_validate(task)
        except ValidationError as error:
            self._invalid = describe_validation_error("task", error)
            self._task = AgentTask.model_construct(goal="")  # for queries; run() fails at once
        self._run = TaskRun(self._task, self._publish_status)
        self._observed = False
        self._started_at = workflow.now()

    @workflow.run
    async def run(self, task: Any) -> TaskResult:
        if self._invalid is not None:
            raise ApplicationError(self._invalid, type=ErrorType.INVALID_TASK, non_retryable=True)
        task = self._task
        self._started_at = workflow.now()
        # Runs recorded before status attributes and the run ledger existed replay without them.
        self._observed = workflow.patched(_OBSERVABILITY_PATCH)
        self._run.run_scoped = workflow.patched(_RUN_SCOPED_SAFETY_PATCH)
        self._publish_status()
        run = self._run
        failed_commit: CommitFailure | None = None
        try:
            status, answer = await run.work()
            if run.continuation is not None:
                pass  # continued below, outside this try: it must not count as a failure
            elif status == "answered":
                truthful = bool(run.effects.deferred) and workflow.patched(_COMMIT_POINT_PATCH)
                failed_commit = await run.effects.commit(run.action_key, stop_at_failure=truthful)
                if failed_commit is None:
                    result = self._finish(status, answer)
                    await self._record_run()
                    return result
        except GeneratorExit:
            # The worker is discarding this coroutine (a cached run evicted without a clean
            # cancel, e.g. at shutdown): Python closes it outside the workflow's event loop,
            # where no workflow call may run. Nothing happened to the task: another worker
            # replays it from history.
            raise
        except BaseException as error:
            # Failure or cancellation: undo, then let the original error end the run.
            cancelled = is_cancelled_exception(error)
            run.status = "cancelled" if cancelled else "failed"
            run.error = "cancelled" if cancelled else str(error)
            await self._roll_back_and_record()
            if not cancelled and isinstance(error, ApplicationError):
                raise ApplicationError(
                    f"{error.message}; rolled back {len(run.effects.saga.records)} step(s)",
                    type=error.type,
                    non_retryable=True,
                ) from error
            raise
        if run.continuation is not None:
            workflow.set_current_details(
                f"Continuing as new at step {run.continuation.next_step + 1}"
            )
            workflow.continue_as_new(task.model_copy(update={"continued": run.continuation}))
        if failed_commit is not None:  # outside the try: an ending, not a failure of the run
            return await self._commit_failed(failed_commit)
        # Escalated or out of budget: fail safe, leave the world as the task found it.
        await self._roll_back_and_record(ending=(status, answer))
        return self._finish(status, answer)

    async def _commit_failed(self, failure: CommitFailure) -> TaskResult:
        """End a task whose commit point failed: the answer is not delivered (it stays in the
        final-answer step), and the earlier reversible effects are rolled back unless the
        profile keeps them. The error says which action failed, at which step, why, and which."""
        run = self._run
        keep = run.profile is not None and run.profile.commit.on_failure == "keep"
        effects = run.effects.saga.pending
        fate = (
            f'kept {effects} earlier effect(s) (the profile\'s [commit] on_failure = "keep")'
            if keep
            else f"rolled back {effects} earlier effect(s)"
        )
        run.error = f"{failure.describe()}; the answer was not delivered; {fate}"
        if run.steps:
            last = run.steps[-1]
            last.note = f"{last.note}; not delivered: {failure.tool} failed at the commit point"
        ending: tuple[TaskStatus, str | None] = ("commit_failed", None)
        if keep:
            await self._record_run(ending)
        else:
            await self._roll_back_and_record(ending=ending)
        return self._finish(*ending)

    async def _roll_back_and_record(
        self, ending: tuple[TaskStatus, str | None] | None = None
    ) -> None:
        """Undo the done steps, then record the run in the ledger, also when the undo fails.
        ``ending`` is the status and answer of a run that ends without an error."""
        try:
            await self._roll_back()
        except GeneratorExit:
            raise  # discarded by the worker, see run()
        except BaseException:
            await self._record_run(ending)
            raise
        await self._record_run(ending)

    async def _roll_back(self) -> None:
        try:
            await self._run.effects.roll_back()
        except ApplicationError as error:
            if error.type == ErrorType.NEEDS_MANUAL_RECOVERY:
                self._run.status, self._run.error = "needs_recovery", error.message
            raise

    def _finish(self, status: TaskStatus, answer: str | None) -> TaskResult:
        run = self._run
        if run.status != "needs_recovery":
            run.status, run.answer = status, answer
        workflow.set_current_details(f"Finished: {run.status}")
        return TaskResult(
            task_id=workflow.info().workflow_id,
            status=run.status,
            answer=run.answer,
            error=run.error,
            steps=self._visible_steps(),
            compensations=run.effects.saga.records,
            earlier_steps=self._earlier_steps(),
        )

    def _earlier_steps(self) -> int:
        carried = self._task.continued
        return carried.earlier_steps if carried else 0

    def _visible_steps(self) -> list[StepRecord]:
        """The steps with sensitive arguments redacted: what traces, results and the ledger
        show."""
        return [redact_step(step, self._run.profile) for step in self._run.steps]

    def _profile_name(self) -> str:
        """The profile that runs: the loaded one's name (a task that names none runs the
        worker's default), else, before it is loaded, the one the task names."""
        loaded = self._run.profile
        return loaded.name if loaded is not None else self._task.profile

    def _publish_status(self) -> None:
        """Search attributes an operator filters on in the UI: profile, status, token spend."""
        if self._observed:
            workflow.upsert_search_attributes(
                [
                    sa.PROFILE.value_set(self._profile_name()),
                    sa.STATUS.value_set(self._run.status),
                    sa.TOKENS.value_set(self._run.tokens()),
                ]
            )

    async def _record_run(self, ending: tuple[TaskStatus, str | None] | None = None) -> None:
        """Write the finished run to the ledger (stats, export, metrics). A failure to record
        never fails the task."""
        if ending is not None:
            self._finish(*ending)
        if not self._observed:
            return
        self._publish_status()
        profile = self._run.profile
        record = RunRecord(
            **self.trace().model_dump(),
            run_id=workflow.info().run_id,
            model=profile.model if profile else "",
            context=self._task.context,
            started_at=self._started_at,
            finished_at=workflow.now(),
        )
        try:
            await stubs.record_run(record)
        except ActivityError as error:
            workflow.logger.warning("run not recorded in the ledger: %s", error)
        except (ApplicationError, ActivityTimeoutError) as error:
            if not workflow.patched(_RECORD_NEVER_FAILS_PATCH):
                raise
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
        refusal = self._run.desk.refusal(self._run.profile, decision)
        if refusal is not None:
            self._ignore_review(decision, refusal.reason)
            return
        self._run.desk.take(decision, "signal")

    def _ignore_review(self, received: Any, reason: str) -> None:
        workflow.logger.warning("review ignored: %s", reason)
        self._run.desk.ignore(received, reason)

    @workflow.update(name=REVIEW_UPDATE)
    def review(self, decision: ReviewDecision) -> ReviewReceipt:
        """A reviewer's decision, refused at once (by the validator) if it cannot count."""
        self._refuse_if_cannot_count(decision)  # another decision may have got in since
        pending = self._run.desk.pending
        assert pending is not None
        self._run.desk.take(decision, "update")
        return ReviewReceipt(step=decision.step, verdict=decision.verdict, tier=pending.tier)

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        # Refused here (stale, unauthorised, a fingerprint other than the pending one...), the
        # update is never accepted and writes no event: the caller is told, history is not.
        self._refuse_if_cannot_count(decision)

    def _refuse_if_cannot_count(self, decision: ReviewDecision) -> None:
        # Typed and non-retryable: a client (any SDK, the CLI) tells the reasons apart by type
        # and never retries a decision that will be refused again.
        refusal = self._run.desk.refusal(self._run.profile, decision)
        if refusal is not None:
            raise ApplicationError(refusal.reason, type=refusal.type, non_retryable=True)

    @workflow.query(name=TRACE_QUERY)
    def trace(self, _request: TraceRequest | None = None) -> Trace:
        run = self._run
        return Trace(
            task_id=workflow.info().workflow_id,
            goal=self._task.goal,
            profile=self._profile_name(),
            status=run.status,
            answer=run.answer,
            steps=self._visible_steps(),
            compensations=run.effects.saga.records,
            error=run.error,
            pending_review=run.desk.pending,
            ignored_reviews=run.desk.ignored,
            earlier_steps=self._earlier_steps(),
        )
