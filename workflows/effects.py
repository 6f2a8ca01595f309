"""What a task run does to the world: actions run with their compensation pushed first,
irreversible ones held back to the commit point, and the rollback.

Workflow code (deterministic).

- commit: after the final answer, deferred irreversible actions run (``handrail.policy``);
- roll back: every done step is compensated in reverse (``saga``); a compensation that cannot
  succeed fails the task as ``NeedsManualRecovery``, naming the effects to repair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

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
        self, binding: ToolBinding, record: StepRecord, arguments: dict[str, Any], key: str
    ) -> ToolOutcome:
        """Run one tool for ``record`` under idempotency ``key``; a side effect pushes its undo
        first, so the undo is right whether the action then commits, fails or is cut off."""
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
                )
            )
        outcome = await stubs.run_tool(binding, call, steps.describe_call(binding, arguments))
        record.outcome = outcome
        ran = f"ran {binding.name}" + ("" if outcome.ok else f": {outcome.error}")
        record.note = f"{record.note}; {ran}" if record.review else ran
        return outcome

    def defer(self, binding: ToolBinding, record: StepRecord, arguments: dict[str, Any]) -> str:
        """Hold an irreversible action back to the commit point; returns what the model is
        told (scheduled, not done)."""
        self.deferred.append(steps.Deferred(binding, record, arguments))
        record.deferred = True
        record.note = f"{binding.name} deferred: irreversible, runs when the task commits"
        return record.note

    async def commit(self, key_for: Callable[[int], str]) -> None:
        """The commit point: run deferred irreversible actions, in the order they were asked."""
        for deferred in self.deferred:
            workflow.set_current_details(f"Committing: {deferred.binding.name}")
            key = key_for(deferred.record.step - 1)  # keys name the step from 0, as ever
            await self.act(deferred.binding, deferred.record, deferred.arguments, key)
        self.deferred.clear()

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
