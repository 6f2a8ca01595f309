"""The saga stack: compensations pushed before their actions run, undone in reverse.

Workflow code (deterministic): it only schedules activities and reads ``workflow.now()``.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import (
        CompensationOutcome,
        CompensationRecord,
        CompensationRequest,
        PendingCompensation,
    )
    from handrail.workflows import stubs


class Saga:
    """What to undo if the task does not commit, and what was undone."""

    def __init__(self) -> None:
        self._stack: list[PendingCompensation] = []
        self.records: list[CompensationRecord] = []

    def push(self, entry: PendingCompensation) -> None:
        """Call before the action runs: its compensation works by idempotency key, so it is
        safe whether the action then commits, fails, or is cut off half way."""
        self._stack.append(entry)

    @property
    def stack(self) -> list[PendingCompensation]:
        """What would be undone, oldest first (carried across continue-as-new)."""
        return list(self._stack)

    def restore(self, stack: list[PendingCompensation], records: list[CompensationRecord]) -> None:
        """Resume a saga a previous run of the task carried."""
        self._stack, self.records = list(stack), list(records)

    @property
    def pending(self) -> int:
        return len(self._stack)

    @property
    def unrecovered(self) -> list[CompensationRecord]:
        return [record for record in self.records if record.status == "failed"]

    async def compensate(self, task_id: str) -> None:
        """Undo every pushed step, newest first, even if the workflow is cancelled meanwhile.

        A compensation that fails after its retries is recorded as ``failed`` and the others
        still run: undo as much as possible, then report what needs a person.
        """
        undo = asyncio.ensure_future(self._undo_all(task_id))
        while not undo.done():
            try:
                await asyncio.shield(undo)
            except asyncio.CancelledError:
                # A cancellation arriving during rollback must not abandon it half way.
                if undo.done():
                    break
        undo.result()

    async def _undo_all(self, task_id: str) -> None:
        while self._stack:
            entry = self._stack.pop()
            request = CompensationRequest(
                task_id=task_id,
                idempotency_key=entry.idempotency_key,
                tool=entry.tool,
                arguments=entry.arguments,
            )
            try:
                outcome = await stubs.compensate(
                    entry.compensation,
                    request,
                    f"{entry.compensation} for step {entry.step} ({entry.tool})",
                )
            except ActivityError as error:
                cause = error.cause
                detail = getattr(cause, "message", None) or str(cause or error)
                outcome = CompensationOutcome(status="failed", detail=detail)
            self.records.append(
                CompensationRecord(
                    step=entry.step,
                    tool=entry.tool,
                    compensation=entry.compensation,
                    idempotency_key=entry.idempotency_key,
                    status=outcome.status,
                    detail=outcome.detail,
                    at=workflow.now(),
                )
            )
