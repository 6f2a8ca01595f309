"""One run of an agent task: its state (what the ``trace`` query shows) and the loop that makes it.

load profile → (decide → gate → review? → act | defer → observe)* → final answer | escalation

Workflow code (deterministic): the profile, the model and the tools are activities
(``stubs``); time is ``workflow.now()``. The conversation lives in the ``decide`` activity's
store, so each step adds a bounded number of bytes to history whatever the step count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import (
        AgentTask,
        Continuation,
        DecideRequest,
        Decision,
        GateVerdict,
        Observation,
        Opening,
        Profile,
        ReviewDecision,
        StepRecord,
        TaskStatus,
    )
    from handrail.policy.gate import (
        GateInputs,
        gate_decision,
        gate_final_answer,
        shadow_gate_decision,
        when_to_run,
    )
    from handrail.workflows import continuation, steps, stubs
    from handrail.workflows.effects import Effects
    from handrail.workflows.review_desk import ReviewDesk

# Versioning: runs that started before the policy gate existed replay without it (their
# recorded steps ran ungated); every run started since records this marker and is gated.
POLICY_GATE_PATCH = "policy-gate-v1"
# Negative amounts are denied (they would lower the running total under task_limit); runs
# recorded before replay the verdicts they got.
NEGATIVE_MONEY_PATCH = "negative-money-denied-v1"
# Runs recorded before a bound money argument compared as a number ("12.5" vs the context's
# "12.50" was outside the scope) replay with the verdicts they had.
SCOPE_AMOUNTS_PATCH = "scope-amounts-as-numbers-v1"

Ending = tuple[TaskStatus, str | None]


def _problem(decision: Decision) -> str:
    return json.dumps({"error": decision.problem or "the reply could not be used"})


class TaskRun:
    """A task run's state and loop. ``run_scoped`` is set by the workflow (a patch): runs
    recorded before run-scoped keys, gated final answers and the refusal limit replay without
    them."""

    def __init__(self, task: AgentTask, publish_status: Callable[[], None]) -> None:
        self.task = task
        self.status: TaskStatus = "running"
        self.answer: str | None = None
        self.error: str | None = None
        self.steps: list[StepRecord] = []
        self.profile: Profile | None = None
        self.effects = Effects()
        self.desk = ReviewDesk(spent=self.money_spent, context=task.context)
        self.run_scoped = False
        self.continuation: Continuation | None = None
        """Set when this run stops to continue as new; the workflow then does."""
        self._carried = task.continued
        self._first_step = task.continued.next_step if task.continued else 0
        self._publish_status = publish_status

    def action_key(self, step: int) -> str:
        """The idempotency key of this run's action at ``step``. The first run's id makes it
        unique per task run (a workflow id reused after its run closed must neither inherit nor
        undo an earlier run's effects) and keeps it across retries, replays and
        continue-as-new."""
        info = workflow.info()
        if self.run_scoped:
            return f"{info.workflow_id}/{info.first_execution_run_id}/{step}"
        return f"{info.workflow_id}/{step}"  # runs recorded before run-scoped keys

    async def work(self) -> Ending:
        task, carried = self.task, self._carried
        info = workflow.info()
        started = workflow.now()
        observation: Observation | None = None
        refusals = 0  # refused steps in a row
        if carried is None:
            workflow.set_current_details(f"Loading profile {task.profile!r}")
            profile = self.profile = await stubs.load_profile(task.profile)
        else:  # a continued run: one profile per task, and the state the last run carried
            profile = self.profile = carried.profile
            self.steps = continuation.restore(carried, self.effects)
            self.desk.ignored = list(carried.ignored_reviews)
            observation, refusals = carried.observation, carried.refusals
        # The first run's id keeps the conversation apart from an earlier task that reused
        # this workflow id, and stays the same across continue-as-new.
        conversation_id = f"{info.workflow_id}/{info.first_execution_run_id}"
        for step in range(self._first_step, profile.max_steps):
            if step > self._first_step and continuation.due(profile):
                self.continuation = continuation.carry(
                    profile=profile,
                    previous=carried,
                    all_steps=self.steps,
                    effects=self.effects,
                    first_step=self._first_step,
                    next_step=step,
                    observation=observation,
                    refusals=refusals,
                    started=started,
                    ignored=self.desk.ignored,
                )
                return "running", None
            if self._over_budget(profile, started):
                return "budget_exhausted", None
            workflow.set_current_details(
                f"Step {step + 1} of at most {profile.max_steps}: deciding"
            )
            started_at = workflow.now()
            request = DecideRequest(
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
            )
            decision = await stubs.decide(request, profile.model)
            record = StepRecord(step=step + 1, started_at=started_at, decision=decision)
            self.steps.append(record)

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

            key = self.action_key(step)
            if workflow.patched(POLICY_GATE_PATCH):
                # The context only matters to rules with a `scope`, which no run recorded
                # before scopes existed has: those replay with the same verdicts, unpatched.
                inputs: GateInputs = {
                    "spent": self.money_spent(profile),
                    "sample_key": key,
                    "context": task.context,
                    "refuse_negative": workflow.patched(NEGATIVE_MONEY_PATCH),
                    "amounts_as_numbers": workflow.patched(SCOPE_AMOUNTS_PATCH),
                }
                verdict = gate_decision(profile, decision, **inputs)
                # The shadow rule's verdict, recorded and never acted on. No patch: it is a
                # pure function of recorded inputs whose result only lands in the step record
                # (queries, the result, the ledger), so it schedules no command, and a run
                # recorded before shadows has a profile without one (None, as it ran).
                record.shadow_gate = shadow_gate_decision(profile, decision, **inputs)
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
                review = await self._review(profile, record)
                if review is None:
                    self.error = f"no reviewer decided step {step + 1} before the last deadline"
                    return "review_expired", None
                if review.verdict == "reject":
                    self.error = f"step {step + 1} rejected by {review.reviewer}"
                    return "rejected", None
                if review.verdict == "answer":
                    record.note = f"answered by reviewer {review.reviewer}"
                    return "answered", review.answer
                if review.verdict == "edit" and review.arguments is not None:
                    arguments = steps.arguments_run(record)  # hidden values kept (review.py)

            binding = profile.binding(decision.tool or "")
            assert binding is not None  # the gate denies tools the profile does not allow
            if when_to_run(binding) == "at_commit":
                note = self.effects.defer(binding, record, arguments)
                content = json.dumps({"status": "scheduled", "detail": note})
            else:
                workflow.set_current_details(f"Step {step + 1}: running {binding.name}")
                outcome = await self.effects.act(binding, record, arguments, key)
                content = outcome.for_model()
            observation = Observation(tool_call_id=decision.tool_call_id, content=content)

        self.error = f"step budget spent: {profile.max_steps} steps"
        return "budget_exhausted", None

    async def _review(self, profile: Profile, record: StepRecord) -> ReviewDecision | None:
        def waiting(awaiting: bool) -> None:
            self.status = "awaiting_review" if awaiting else "running"
            self._publish_status()

        return await self.desk.ask(profile, record, waiting)

    def _too_many_refusals(self, profile: Profile, refusals: int, record: StepRecord) -> bool:
        """After ``max_consecutive_refusals`` refused steps in a row the task escalates, so a
        person sees a model that keeps proposing what cannot run, instead of the model spending
        the whole step budget on it."""
        if not self.run_scoped or refusals < profile.max_consecutive_refusals:
            return False
        self.error = (
            f"{refusals} refused steps in a row (max_consecutive_refusals = "
            f"{profile.max_consecutive_refusals}); last: {record.note}"
        )
        record.note += "; escalated: too many refused steps in a row"
        return True

    async def _final_answer(self, profile: Profile, record: StepRecord) -> Ending:
        """End with the model's answer if the policy lets it, else as a reviewer decides."""
        answer = record.decision.answer
        if not self.run_scoped:  # recorded before final answers were gated
            record.note = "answered"
            return "answered", answer
        record.gate = gate_final_answer(
            profile,
            record.decision,
            changed_world=steps.changed_world(profile, self.steps)
            or bool(self._carried and self._carried.changed_world),
        )
        if record.gate.action == "auto":
            record.note = "answered"
            return "answered", answer
        review = await self._review(profile, record)
        if review is None:
            self.error = (
                f"no reviewer decided the final answer (step {record.step}) "
                "before the last deadline"
            )
            return "review_expired", None
        if review.verdict == "reject":
            self.error = f"final answer (step {record.step}) rejected by {review.reviewer}"
            return "rejected", None
        if review.verdict == "answer":
            return "answered", review.answer
        if review.verdict == "edit" and review.arguments is not None:
            return "answered", str(review.arguments["answer"])
        return "answered", answer

    def tokens(self) -> int:
        """Tokens spent by the whole task, earlier runs included."""
        return steps.tokens(self.steps) + (self._carried.tokens if self._carried else 0)

    def money_spent(self, profile: Profile) -> dict[str, Decimal]:
        """What this task moved per tool, earlier runs included (the per-task limits)."""
        spent = steps.money_spent(profile, self.steps)
        for tool, amount in (self._carried.money if self._carried else {}).items():
            spent[tool] = spent.get(tool, Decimal(0)) + amount
        return spent

    def _over_budget(self, profile: Profile, started: datetime) -> bool:
        tokens = self.tokens()
        if profile.max_tokens is not None and tokens >= profile.max_tokens:
            self.error = f"token budget spent: {tokens} of {profile.max_tokens}"
            return True
        # The time budget bounds the agent's own work: time spent waiting for people does not
        # count, or every review longer than the budget would roll the task back.
        this_run = [record for record in self.steps if record.step > self._first_step]
        waited = steps.people_wait(profile, this_run)
        elapsed = (workflow.now() - started).total_seconds() - waited
        elapsed += self._carried.agent_seconds if self._carried else 0.0
        if profile.max_duration_seconds is not None and elapsed >= profile.max_duration_seconds:
            self.error = f"time budget spent: {elapsed:.0f} s of {profile.max_duration_seconds:g}"
            return True
        return False
