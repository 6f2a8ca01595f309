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
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from handrail.contracts import (
        AgentTask,
        DecideRequest,
        Decision,
        LoadProfileRequest,
        Observation,
        Opening,
        PendingCompensation,
        Profile,
        StepRecord,
        TaskResult,
        TaskStatus,
        ToolBinding,
        ToolCall,
        ToolOutcome,
        Trace,
        TraceRequest,
    )
    from handrail.errors import ErrorType
    from handrail.names import TRACE_QUERY, WORKFLOW_TYPE
    from handrail.policy import when_to_run
    from workflows import options
    from workflows.saga import Saga

T = TypeVar("T")

_SUMMARY_LIMIT = 200  # characters: the UI shows activity summaries on one line


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


def _problem(decision: Decision) -> str:
    return json.dumps({"error": decision.problem or "the reply could not be used"})


class _Deferred:
    """An irreversible action waiting for the commit point."""

    def __init__(self, binding: ToolBinding, record: StepRecord) -> None:
        self.binding = binding
        self.record = record


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
        self._deferred: list[_Deferred] = []

    @workflow.run
    async def run(self, task: AgentTask) -> TaskResult:
        try:
            status, answer = await self._work(task)
            if status == "answered":
                await self._commit()
                return self._finish(status, answer)
        except BaseException as error:
            # Failure or cancellation: undo, then let the original error end the run.
            cancelled = is_cancelled_exception(error)
            self._status = "cancelled" if cancelled else "failed"
            self._error = "cancelled" if cancelled else str(error)
            await self._roll_back()
            if not cancelled and isinstance(error, ApplicationError):
                raise ApplicationError(
                    f"{error.message}; rolled back {len(self._saga.records)} step(s)",
                    type=error.type,
                    non_retryable=True,
                ) from error
            raise
        # Escalated or out of budget: fail safe, leave the world as the task found it.
        await self._roll_back()
        return self._finish(status, answer)

    async def _work(self, task: AgentTask) -> tuple[TaskStatus, str | None]:
        info = workflow.info()
        started = workflow.now()
        workflow.set_current_details(f"Loading profile {task.profile!r}")
        profile = await self._call(
            "load_profile",
            LoadProfileRequest(name=task.profile),
            Profile,
            start_to_close_timeout=options.PROFILE_TIMEOUT,
            retry_policy=options.PROFILE_RETRY,
            summary=f"profile {task.profile}",
        )
        # The first run's id keeps the conversation apart from an earlier task that reused
        # this workflow id, and stays the same across continue-as-new.
        conversation_id = f"{info.workflow_id}/{info.first_execution_run_id}"
        observation: Observation | None = None
        for step in range(profile.max_steps):
            if self._over_budget(profile, started):
                return "budget_exhausted", None
            workflow.set_current_details(
                f"Step {step + 1} of at most {profile.max_steps}: deciding"
            )
            started_at = workflow.now()
            decision = await self._call(
                "decide",
                DecideRequest(
                    conversation_id=conversation_id,
                    step=step,
                    model=profile.model,
                    tools=profile.tool_names,
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
                record.note = "answered"
                return "answered", decision.answer
            if decision.kind == "escalate":
                record.note = "the model asked for a human"
                return "escalated", decision.answer

            binding = profile.binding(decision.tool or "") if decision.kind == "tool_call" else None
            if binding is None:
                # Malformed or not allowed: tell the model what was wrong, on the step budget.
                record.note = f"refused: {decision.problem or 'tool not in profile'}"
                content = _problem(decision)
            elif when_to_run(binding) == "at_commit":
                self._deferred.append(_Deferred(binding, record))
                record.deferred = True
                record.note = f"{binding.name} deferred: irreversible, runs when the task commits"
                content = json.dumps({"status": "scheduled", "detail": record.note})
            else:
                workflow.set_current_details(f"Step {step + 1}: running {binding.name}")
                outcome = await self._act(binding, record)
                content = outcome.for_model()
            observation = Observation(tool_call_id=decision.tool_call_id, content=content)

        self._error = f"step budget spent: {profile.max_steps} steps"
        return "budget_exhausted", None

    def _over_budget(self, profile: Profile, started: datetime) -> bool:
        tokens = sum(s.decision.tokens_in + s.decision.tokens_out for s in self._steps)
        if profile.max_tokens is not None and tokens >= profile.max_tokens:
            self._error = f"token budget spent: {tokens} of {profile.max_tokens}"
            return True
        elapsed = (workflow.now() - started).total_seconds()
        if profile.max_duration_seconds is not None and elapsed >= profile.max_duration_seconds:
            self._error = f"time budget spent: {elapsed:.0f} s of {profile.max_duration_seconds:g}"
            return True
        return False

    async def _act(self, binding: ToolBinding, record: StepRecord) -> ToolOutcome:
        """Run one tool for ``record``'s decision; side effects push their undo first."""
        info = workflow.info()
        decision = record.decision
        key = f"{info.workflow_id}/{record.index}"
        call = ToolCall(
            task_id=info.workflow_id,
            step=record.index,
            idempotency_key=key,
            arguments=decision.arguments,
        )
        summary = _one_line(f"{binding.name} {decision.arguments}")
        if binding.read_only:
            outcome = await self._call(
                binding.name,
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
            outcome = await self._call(
                binding.name,
                call,
                ToolOutcome,
                start_to_close_timeout=options.ACTION_TIMEOUT,
                retry_policy=options.ACTION_RETRY,
                summary=summary,
            )
        record.outcome = outcome
        record.note = f"ran {binding.name}" + ("" if outcome.ok else f": {outcome.error}")
        return outcome

    async def _commit(self) -> None:
        """The commit point: run deferred irreversible actions, in the order they were asked."""
        for deferred in self._deferred:
            workflow.set_current_details(f"Committing: {deferred.binding.name}")
            await self._act(deferred.binding, deferred.record)
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

    async def _call(
        self, activity: str, arg: Any, result_type: type[T], *, local: bool = False, **kwargs: Any
    ) -> T:
        """Run an activity; if it fails for good, fail the task with the activity's own message
        and type (e.g. ``UnknownProfile``) rather than a generic "activity failed"."""
        try:
            if local:
                result = await workflow.execute_local_activity(
                    activity, arg, result_type=result_type, **kwargs
                )
            else:
                result = await workflow.execute_activity(
                    activity, arg, result_type=result_type, **kwargs
                )
            return cast(T, result)
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise  # the task is being cancelled: run() rolls back and reports that
            cause = error.cause
            if isinstance(cause, ApplicationError):
                raise ApplicationError(
                    f"{activity} failed: {cause.message}", type=cause.type, non_retryable=True
                ) from error
            raise ApplicationError(
                f"{activity} failed: {cause or error}", non_retryable=True
            ) from error

    def _finish(self, status: TaskStatus, answer: str | None) -> TaskResult:
        self._status, self._answer = status, answer
        workflow.set_current_details(f"Finished: {status}")
        return TaskResult(
            task_id=workflow.info().workflow_id,
            status=status,
            answer=answer,
            steps=self._steps,
            compensations=self._saga.records,
        )

    @workflow.query(name=TRACE_QUERY)
    def trace(self, _request: TraceRequest | None = None) -> Trace:
        return Trace(
            task_id=workflow.info().workflow_id,
            goal=self._task.goal,
            profile=self._task.profile,
            status=self._status,
            answer=self._answer,
            steps=self._steps,
            compensations=self._saga.records,
            error=self._error,
        )
