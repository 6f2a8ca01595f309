"""``AgentWorkflow``: one agent task as a durable, deterministic workflow.

Handrail's own agent: the loop is ``loop.TaskRun`` (decide → hand each decision to the
governor); governance (gate, review, effects, the trace) is ``governor.Governor``, and how the
task ends (commit or roll back, then the run ledger) is ``endings``. This module ties them to
Temporal: the workflow's input, the reviewer's signal and update, and the ``trace`` query
(``review_handlers``, which a framework's workflow registers at run time instead).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from handrail.contracts import (
        AgentTask,
        ReviewDecision,
        ReviewReceipt,
        TaskResult,
        Trace,
        TraceRequest,
    )
    from handrail.errors import ErrorType, describe_validation_error
    from handrail.names import REVIEW_SIGNAL, REVIEW_UPDATE, TRACE_QUERY, WORKFLOW_TYPE
    from handrail.workflows import endings, review_handlers
    from handrail.workflows.governor import Governor
    from handrail.workflows.loop import TaskRun


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
        self._governor = Governor(self._task)
        self._run = TaskRun(self._governor)

    @workflow.run
    async def run(self, task: Any) -> TaskResult:
        if self._invalid is not None:
            raise ApplicationError(self._invalid, type=ErrorType.INVALID_TASK, non_retryable=True)
        return await endings.govern(self._governor, self._run.work, self._next_run)

    def _next_run(self) -> AgentTask | None:
        """The input to continue as new with, once the loop stopped to do so."""
        carried = self._run.continuation
        if carried is None:
            return None
        return self._task.model_copy(update={"continued": carried})

    @workflow.signal(name=REVIEW_SIGNAL)
    def submit_review(self, received: RawValue) -> None:
        review_handlers.take_signalled(self._governor, received)

    @workflow.update(name=REVIEW_UPDATE)
    def review(self, decision: ReviewDecision) -> ReviewReceipt:
        return review_handlers.take_updated(self._governor, decision)

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        review_handlers.refuse_if_cannot_count(self._governor, decision)

    @workflow.query(name=TRACE_QUERY)
    def trace(self, _request: TraceRequest | None = None) -> Trace:
        return self._governor.trace()
