"""What a task run does to the world: actions run with their compensation pushed first,
irreversible ones held back to the commit point, and the rollback.

Workflow code (deterministic).

- commit: after the final answer, deferred irreversible actions run (``handrail.policy.gate``); the
  first that fails there stops the commit (:class:`CommitFailure`), and the task does not claim
  what did not happen (``AgentWorkflow`` ends it ``commit_failed``);
- roll back: every done step is compensated in reverse (``saga``); a compensation that cannot
  succeed fails the task as ``NeedsManualRecovery``, naming the effects to repair.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import (
        PendingCompensation,
        SharedLimit,
        StepRecord,
        ToolBinding,
        ToolCall,
        ToolOutcome,
    )
    from handrail.errors import ErrorType
    from handrail.workflows import steps, stubs
    from handrail.workflows.saga import Saga


RunTool = Callable[[ToolCall], Awaitable[ToolOutcome]]
"""How a tool that an agent's framework defines is run (``ToolBinding.framework``): the adapter
calls the framework's own tool with ``ToolCall.arguments`` and says what came of it."""


@dataclass(frozen=True)
class CommitFailure:
    """The deferred action that failed at the commit point, and the ones that never ran."""

    tool: str
    step: int
    """1-based, as the trace shows it."""
    reason: str
    never_ran: list[str]
    """The later deferred actions, as ``tool (step n)``."""

    def describe(self) -> str:
        text = f"{self.tool} (step {self.step}) failed at the commit point: {self.reason}"
        if self.never_ran:
            text += f"; never ran: {', '.join(self.never_ran)}"
        return text


def _failure_reason(error: ApplicationError) -> str:
    """What the tool said when it failed for good: ``calls.call_activity`` re-raises the
    activity's failure as an ``ApplicationError`` prefixed with the activity's name."""
    failed = error.__cause__
    if isinstance(failed, ActivityError) and failed.cause is not None:
        return str(getattr(failed.cause, "message", None) or failed.cause)
    return error.message


def shared_limit(binding: ToolBinding) -> SharedLimit | None:
    """The limit across tasks that the tool activity reserves against, from the tool's rule
    (``None`` when it sets none: the call is then what it was before shared limits)."""
    rule = binding.rule
    if binding.read_only or rule.shared_limit is None or rule.shared_limit_window is None:
        return None
    return SharedLimit(
        limit=rule.shared_limit,
        window=rule.shared_limit_window,
        per=rule.shared_limit_per,
        amount_field=binding.amount_field,
    )


class Effects:
    """The saga stack and the deferred actions of one task run."""

    def __init__(self) -> None:
        self.saga = Saga()
        self.deferred: list[steps.Deferred] = []

    async def act(
        self,
        binding: ToolBinding,
        record: StepRecord,
        arguments: dict[str, Any],
        key: str,
        run: RunTool | None = None,
    ) -> ToolOutcome:
        """Run one tool for ``record`` under idempotency ``key``; a side effect pushes its undo
        first, so the undo is right whether the action then commits, fails or is cut off.
        ``run``: how a tool the framework runs itself is run (its activity otherwise)."""
        info = workflow.info()
        call = ToolCall(
            task_id=info.workflow_id,
            step=record.step,
            idempotency_key=key,
            arguments=arguments,
            # An MCP server's one call activity serves all its tools: it needs the name.
            tool=binding.name if binding.activity else None,
            limit=shared_limit(binding),
        )
        if not binding.read_only and binding.compensation is not None:
            self.saga.push(
                PendingCompensation(
                    step=record.step,
                    tool=binding.name,
                    compensation=binding.compensation,
                    idempotency_key=key,
                    # A framework's tool never saw the key: its undo finds the effect by these.
                    arguments=arguments if binding.framework else {},
                )
            )
        if binding.framework:
            if run is None:
                raise ApplicationError(
                    f"{binding.name} is a framework tool (the profile's framework_tools), but "
                    "its adapter gave no way to run it",
                    non_retryable=True,
                )
            outcome = await run(call)
        else:
            summary = steps.describe_call(binding, arguments)
            outcome = await stubs.run_tool(binding, call, summary)
        record.outcome = outcome
        ran = f"ran {binding.name}" + ("" if outcome.ok else f": {outcome.error}")
        record.note = f"{record.note}; {ran}" if record.review else ran
        return outcome

    def defer(
        self,
        binding: ToolBinding,
        record: StepRecord,
        arguments: dict[str, Any],
        run: RunTool | None = None,
    ) -> str:
        """Hold an irreversible action back to the commit point; returns what the model is
        told (scheduled, not done)."""
        self.deferred.append(steps.Deferred(binding, record, arguments, run))
        record.deferred = True
        record.note = f"{binding.name} deferred: irreversible, runs when the task commits"
        return record.note

    async def commit(
        self, key_for: Callable[[int], str], *, stop_at_failure: bool
    ) -> CommitFailure | None:
        """The commit point: run deferred irreversible actions, in the order they were asked.

        ``stop_at_failure`` (runs from the commit-point patch on): the first action that fails
        (the tool says no, or fails for good) stops the commit, the later ones never run, and
        the failure is returned. A cancellation is no failure of the action: it propagates
        (the task then rolls back). Runs recorded before ran every action whatever happened."""
        if not stop_at_failure:
            await self._commit_regardless(key_for)
            return None
        while self.deferred:
            # Taken off as it runs: what a cancellation leaves here never ran (roll_back says so).
            deferred = self.deferred.pop(0)
            binding, record = deferred.binding, deferred.record
            workflow.set_current_details(f"Committing: {binding.name}")
            try:
                outcome = await self.act(
                    binding, record, deferred.arguments, key_for(record.step - 1), deferred.run
                )
            except ApplicationError as error:  # failed for good (a cancellation is no such error)
                outcome = record.outcome = ToolOutcome(ok=False, error=_failure_reason(error))
                record.note = f"ran {binding.name}: failed for good: {outcome.error}"
            if not outcome.ok:
                return self._stop_commit(deferred, outcome.error or "the tool failed")
        return None

    async def _commit_regardless(self, key_for: Callable[[int], str]) -> None:
        """The commit point of runs recorded before it stopped at a failure: every deferred
        action runs, whatever the ones before it did."""
        for deferred in self.deferred:
            workflow.set_current_details(f"Committing: {deferred.binding.name}")
            key = key_for(deferred.record.step - 1)  # keys name the step from 0, as ever
            await self.act(deferred.binding, deferred.record, deferred.arguments, key, deferred.run)
        self.deferred.clear()

    def _stop_commit(self, failed: steps.Deferred, reason: str) -> CommitFailure:
        """Stop the commit at ``failed``: the deferred actions after it never run, and their
        steps say so."""
        binding, record = failed.binding, failed.record
        later, self.deferred = self.deferred, []
        for skipped in later:
            skipped.record.note = (
                f"{skipped.binding.name} never ran: the commit stopped at "
                f"{binding.name} (step {record.step})"
            )
        return CommitFailure(
            tool=binding.name,
            step=record.step,
            reason=reason,
            never_ran=[f"{s.binding.name} (step {s.record.step})" for s in later],
        )

    async def roll_back(self) -> None:
        """Drop what was deferred and undo what was done, newest first. Raises
        ``NeedsManualRecovery`` naming each effect no compensation could undo."""
        for deferred in self.deferred:
            deferred.record.note = f"{deferred.binding.name} never ran: the task rolled back"
        self.deferred.clear()
        if self.saga.pending:
            workflow.set_current_details(f"Rolling back {self.saga.pending} step(s)")
            await self.saga.compensate(workflow.info().workflow_id)
        unrecovered = self.saga.unrecovered
        if unrecovered:
            effects = "; ".join(
                f"{r.tool} at step {r.step} (key {r.idempotency_key}): {r.detail}"
                for r in unrecovered
            )
            workflow.set_current_details(f"NEEDS MANUAL RECOVERY: {effects}")
            raise ApplicationError(
                f"needs manual recovery: {effects}",
                type=ErrorType.NEEDS_MANUAL_RECOVERY,
                non_retryable=True,
            )
