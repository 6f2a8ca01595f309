"""How a governed task ends, whoever hosts it (``AgentWorkflow`` or a framework's workflow).

- answered: deferred irreversible actions run at the commit point, then the task completes;
- commit failed: one of them failed there, so the answer is not delivered; the earlier effects
  are rolled back, or kept when the profile says ``[commit] on_failure = "keep"``;
- failed or cancelled: every done step is compensated in reverse, then the error ends the run;
- escalated, rejected, out of budget, review expired: the same rollback, then a result saying so
  (fail safe: the world as the task found it).

Every ending records the run in the ledger. Workflow code (deterministic).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import AgentTask, RunRecord, TaskResult, TaskStatus
    from handrail.errors import ErrorType
    from handrail.workflows import stubs
    from handrail.workflows.effects import CommitFailure
    from handrail.workflows.task_state import Ending, TaskState

OBSERVABILITY_PATCH = "observability-v1"
# Runs started before these safety rules replay as they ran: keys of workflow id + step (shared
# by every run that reused the id), final answers ungated, no limit on refusals in a row.
RUN_SCOPED_SAFETY_PATCH = "run-keys-answer-gate-refusal-limit-v1"
# A deferred action that fails at the commit point stops the commit and the answer is not
# delivered (commit_failed). Runs recorded before ran every deferred action and answered anyway.
# Asked only by runs that reach the commit point with actions to run.
_COMMIT_POINT_PATCH = "commit-point-truth-v1"
# Versioning: a ledger record that fails for good used to fail the task when the local activity
# raised its own error (sdk-core does not wrap a local activity's failure in ActivityError).
# Runs since log it, as intended; runs recorded before re-raise it on replay. Asked only when
# the record failed, so only such runs carry the marker.
_RECORD_NEVER_FAILS_PATCH = "record-run-never-fails-v1"

Work = Callable[[], Awaitable[Ending]]


def begin(governor: TaskState) -> None:
    """The start of a governed run: the patches every later step depends on, then the UI's
    status attributes."""
    governor.started_at = workflow.now()
    # Runs recorded before status attributes and the run ledger existed replay without them.
    governor.observed = workflow.patched(OBSERVABILITY_PATCH)
    governor.run_scoped = workflow.patched(RUN_SCOPED_SAFETY_PATCH)
    governor.publish_status()


async def govern(
    governor: TaskState, work: Work, next_run: Callable[[], AgentTask | None] = lambda: None
) -> TaskResult:
    """Run ``work`` (the agent, to its ending) under ``governor`` and end the task as it says.
    ``next_run``: the input to continue as new with, when ``work`` stopped to do so."""
    begin(governor)
    failed_commit: CommitFailure | None = None
    try:
        status, answer = await work()
        if next_run() is not None:
            pass  # continued below, outside this try: it must not count as a failure
        elif status == "answered":
            effects = governor.effects
            truthful = bool(effects.deferred) and workflow.patched(_COMMIT_POINT_PATCH)
            failed_commit = await effects.commit(governor.action_key, stop_at_failure=truthful)
            if failed_commit is None:
                result = finish(governor, status, answer)
                await record_run(governor)
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
        governor.status = "cancelled" if cancelled else "failed"
        governor.error = "cancelled" if cancelled else str(error)
        await _roll_back_and_record(governor)
        if not cancelled and isinstance(error, ApplicationError):
            raise ApplicationError(
                f"{error.message}; rolled back {len(governor.effects.saga.records)} step(s)",
                type=error.type,
                non_retryable=True,
            ) from error
        raise
    continued = next_run()
    if continued is not None:
        assert continued.continued is not None
        workflow.set_current_details(
            f"Continuing as new at step {continued.continued.next_step + 1}"
        )
        workflow.continue_as_new(continued)
    if failed_commit is not None:  # outside the try: an ending, not a failure of the run
        return await _commit_failed(governor, failed_commit)
    # Escalated or out of budget: fail safe, leave the world as the task found it.
    await _roll_back_and_record(governor, ending=(status, answer))
    return finish(governor, status, answer)


async def _commit_failed(governor: TaskState, failure: CommitFailure) -> TaskResult:
    """End a task whose commit point failed: the answer is not delivered (it stays in the
    final-answer step), and the earlier reversible effects are rolled back unless the
    profile keeps them. The error says which action failed, at which step, why, and which."""
    profile = governor.profile
    keep = profile is not None and profile.commit.on_failure == "keep"
    effects = governor.effects.saga.pending
    fate = (
        f'kept {effects} earlier effect(s) (the profile\'s [commit] on_failure = "keep")'
        if keep
        else f"rolled back {effects} earlier effect(s)"
    )
    governor.error = f"{failure.describe()}; the answer was not delivered; {fate}"
    if governor.steps:
        last = governor.steps[-1]
        last.note = f"{last.note}; not delivered: {failure.tool} failed at the commit point"
    ending: tuple[TaskStatus, str | None] = ("commit_failed", None)
    if keep:
        await record_run(governor, ending)
    else:
        await _roll_back_and_record(governor, ending=ending)
    return finish(governor, *ending)


async def _roll_back_and_record(governor: TaskState, ending: Ending | None = None) -> None:
    """Undo the done steps, then record the run in the ledger, also when the undo fails.
    ``ending`` is the status and answer of a run that ends without an error."""
    try:
        await _roll_back(governor)
    except GeneratorExit:
        raise  # discarded by the worker, see govern()
    except BaseException:
        await record_run(governor, ending)
        raise
    await record_run(governor, ending)


async def _roll_back(governor: TaskState) -> None:
    try:
        await governor.effects.roll_back()
    except ApplicationError as error:
        if error.type == ErrorType.NEEDS_MANUAL_RECOVERY:
            governor.status, governor.error = "needs_recovery", error.message
        raise


def finish(governor: TaskState, status: TaskStatus, answer: str | None) -> TaskResult:
    if governor.status != "needs_recovery":
        governor.status, governor.answer = status, answer
    workflow.set_current_details(f"Finished: {governor.status}")
    return TaskResult(
        task_id=workflow.info().workflow_id,
        status=governor.status,
        answer=governor.answer,
        error=governor.error,
        steps=governor.visible_steps(),
        compensations=governor.effects.saga.records,
        earlier_steps=governor.earlier_steps(),
    )


async def record_run(governor: TaskState, ending: Ending | None = None) -> None:
    """Write the finished run to the ledger (stats, export, metrics). A failure to record
    never fails the task."""
    if ending is not None:
        finish(governor, *ending)
    if not governor.observed:
        return
    governor.publish_status()
    profile = governor.profile
    record = RunRecord(
        **governor.trace().model_dump(),
        run_id=workflow.info().run_id,
        model=profile.model if profile else "",
        context=governor.task.context,
        started_at=governor.started_at,
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
