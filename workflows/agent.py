"""``AgentWorkflow``: one agent task as a durable, deterministic loop.

load profile → (decide → act → record)* → answer | escalate | budget exhausted

No I/O here: the profile, the model and the tools are activities; time is ``workflow.now()``.
The conversation lives in the ``decide`` activity's store, so each step adds a bounded number of
bytes to history whatever the step count.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from handrail.contracts import (
        AgentTask,
        DecideRequest,
        Decision,
        LoadProfileRequest,
        Observation,
        Opening,
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
    from handrail.names import TRACE_QUERY, WORKFLOW_TYPE
    from workflows import options

T = TypeVar("T")

_SUMMARY_LIMIT = 200  # characters: the UI shows activity summaries on one line


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


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
        self._steps: list[StepRecord] = []

    @workflow.run
    async def run(self, task: AgentTask) -> TaskResult:
        info = workflow.info()
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
                return self._finish("answered", decision.answer)
            if decision.kind == "escalate":
                record.note = "the model asked for a human"
                return self._finish("escalated", decision.answer)

            binding = profile.binding(decision.tool or "") if decision.kind == "tool_call" else None
            if binding is None:
                # Malformed or not allowed: tell the model what was wrong, on the step budget.
                record.note = f"refused: {decision.problem or 'tool not in profile'}"
                observation = Observation(
                    tool_call_id=decision.tool_call_id, content=_problem(decision)
                )
                continue

            workflow.set_current_details(f"Step {step + 1}: running {binding.name}")
            outcome = await self._act(binding, decision, step)
            record.outcome = outcome
            record.note = f"ran {binding.name}" + ("" if outcome.ok else f": {outcome.error}")
            observation = Observation(
                tool_call_id=decision.tool_call_id, content=outcome.for_model()
            )

        return self._finish("budget_exhausted", None)

    async def _act(self, binding: ToolBinding, decision: Decision, step: int) -> ToolOutcome:
        info = workflow.info()
        call = ToolCall(
            task_id=info.workflow_id,
            step=step,
            idempotency_key=f"{info.workflow_id}/{step}",
            arguments=decision.arguments,
        )
        summary = _one_line(f"{binding.name} {decision.arguments}")
        if binding.read_only:
            return await self._call(
                binding.name,
                call,
                ToolOutcome,
                local=True,
                start_to_close_timeout=options.READ_TOOL_TIMEOUT,
                retry_policy=options.READ_TOOL_RETRY,
                summary=summary,
            )
        return await self._call(
            binding.name,
            call,
            ToolOutcome,
            start_to_close_timeout=options.TOOL_TIMEOUT,
            retry_policy=options.TOOL_RETRY,
            summary=summary,
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
            self._status = "failed"
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
            task_id=workflow.info().workflow_id, status=status, answer=answer, steps=self._steps
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
        )
