"""The state of one governed task: what the ``trace`` query shows and what the policy reads
(steps, money moved, tokens, budgets), whoever hosts the governor.

Workflow code (deterministic).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail import search_attributes as sa
    from handrail.contracts import (
        AgentTask,
        Decision,
        Profile,
        StepRecord,
        TaskStatus,
        Trace,
    )
    from handrail.policy.redaction import redact_step
    from handrail.workflows import steps
    from handrail.workflows.effects import Effects
    from handrail.workflows.review_desk import ReviewDesk

Ending = tuple[TaskStatus, str | None]


class TaskState:
    """One task's state. ``run_scoped`` and ``observed`` are set when the run begins
    (``endings.begin``, patches: runs recorded before run-scoped keys, gated final answers,
    the refusal limit, status attributes and the ledger replay without them)."""

    def __init__(self, task: AgentTask) -> None:
        self.task = task
        self.status: TaskStatus = "running"
        self.answer: str | None = None
        self.error: str | None = None
        self.steps: list[StepRecord] = []
        self.profile: Profile | None = None
        self.effects = Effects()
        self.desk = ReviewDesk(spent=self.money_spent, context=task.context)
        self.run_scoped = False
        self.observed = False
        self.refusals = 0
        """Refused steps in a row."""
        self.ended: Ending | None = None
        """Set when governance ended the task from inside a proposal (``TaskEnded``)."""
        self.carried = task.continued
        self.started = workflow.now()
        """When this run began its work (the time budget counts from here)."""
        self.started_at = workflow.now()
        """When the task run started (the ledger's ``started_at``)."""

    # --- state the policy reads ----------------------------------------------------------

    def action_key(self, step: int) -> str:
        """The idempotency key of this run's action at ``step`` (from 0). The first run's id
        makes it unique per task run (a workflow id reused after its run closed must neither
        inherit nor undo an earlier run's effects) and keeps it across retries, replays and
        continue-as-new."""
        info = workflow.info()
        if self.run_scoped:
            return f"{info.workflow_id}/{info.first_execution_run_id}/{step}"
        return f"{info.workflow_id}/{step}"  # runs recorded before run-scoped keys

    def tokens(self) -> int:
        """Tokens spent by the whole task, earlier runs included."""
        return steps.tokens(self.steps) + (self.carried.tokens if self.carried else 0)

    def money_spent(self, profile: Profile) -> dict[str, Decimal]:
        """What this task moved per tool, earlier runs included (the per-task limits)."""
        spent = steps.money_spent(profile, self.steps)
        for tool, amount in (self.carried.money if self.carried else {}).items():
            spent[tool] = spent.get(tool, Decimal(0)) + amount
        return spent

    def over_budget(self, profile: Profile, first_step: int) -> bool:
        """Whether the token or time budget is spent (``error`` then says which)."""
        tokens = self.tokens()
        if profile.max_tokens is not None and tokens >= profile.max_tokens:
            self.error = f"token budget spent: {tokens} of {profile.max_tokens}"
            return True
        # The time budget bounds the agent's own work: time spent waiting for people does not
        # count, or every review longer than the budget would roll the task back.
        this_run = [record for record in self.steps if record.step > first_step]
        waited = steps.people_wait(profile, this_run)
        elapsed = (workflow.now() - self.started).total_seconds() - waited
        elapsed += self.carried.agent_seconds if self.carried else 0.0
        if profile.max_duration_seconds is not None and elapsed >= profile.max_duration_seconds:
            self.error = f"time budget spent: {elapsed:.0f} s of {profile.max_duration_seconds:g}"
            return True
        return False

    def publish_status(self) -> None:
        """Search attributes an operator filters on in the UI: profile, status, token spend."""
        if self.observed:
            workflow.upsert_search_attributes(
                [
                    sa.PROFILE.value_set(self.profile_name()),
                    sa.STATUS.value_set(self.status),
                    sa.TOKENS.value_set(self.tokens()),
                ]
            )

    def profile_name(self) -> str:
        """The profile that runs: the loaded one's name (a task that names none runs the
        worker's default), else, before it is loaded, the one the task names."""
        return self.profile.name if self.profile is not None else self.task.profile

    # --- steps ----------------------------------------------------------------------------

    def open_step(
        self, decision: Decision, started_at: datetime | None = None, number: int | None = None
    ) -> StepRecord:
        """Start the record of step ``number`` (the next one by default) for ``decision``."""
        record = StepRecord(
            step=number or self.next_step_number(),
            started_at=started_at or workflow.now(),
            decision=decision,
        )
        self.steps.append(record)
        return record

    def next_step_number(self) -> int:
        """The number the next step's record gets, from 1, earlier runs included."""
        if self.steps:
            return self.steps[-1].step + 1
        return self.carried.next_step + 1 if self.carried else 1

    # --- the trace ------------------------------------------------------------------------

    def visible_steps(self) -> list[StepRecord]:
        """The steps with sensitive arguments redacted: what traces, results and the ledger
        show."""
        return [redact_step(step, self.profile) for step in self.steps]

    def earlier_steps(self) -> int:
        return self.carried.earlier_steps if self.carried else 0

    def trace(self) -> Trace:
        return Trace(
            task_id=workflow.info().workflow_id,
            goal=self.task.goal,
            profile=self.profile_name(),
            status=self.status,
            answer=self.answer,
            steps=self.visible_steps(),
            compensations=self.effects.saga.records,
            error=self.error,
            pending_review=self.desk.pending,
            ignored_reviews=self.desk.ignored,
            earlier_steps=self.earlier_steps(),
        )
