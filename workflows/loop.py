"""One run of an agent task: its state (what the ``trace`` query shows) and the loop that makes it.

begin (load the profile, or take over what the last run carried), then step by step:

    between steps   continue as new (history grew) | out of budget (tokens, time)
    decide          the model's decision, starting the step's record
                    final answer → gated, perhaps reviewed → answered | rejected | expired
                    escalate → escalated; malformed → refused (the model is told why)
    gate            auto | review | deny (refused: the model is told why)
    review          approve | edit → act;  reject | answer | no decision → the ending
    act             run the tool (its undo pushed first), or defer it to the commit point;
                    the result is what the model sees next

Too many refusals in a row escalate; the last step spent ends ``budget_exhausted``.

Workflow code (deterministic): the profile, the model and the tools are activities
(``stubs``); time is ``workflow.now()``. The conversation lives in the ``decide`` activity's
store, so each step adds a bounded number of bytes to history whatever the step count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import (
        AgentTask,
        Continuation,
        DecideRequest,
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
        self._started = workflow.now()
        """When this run began its work (the time budget counts from here)."""
        self._observation: Observation | None = None
        """What the model is told at its next decision: the last step's result or refusal."""
        self._refusals = 0
        """Refused steps in a row."""

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
        """Run the task to its ending, or to the step where this run continues as new.

        The profile first (or the state the previous run carried), then step by step until an
        ending: between steps, continue as new or stop on a spent budget; in a step, decide →
        gate → review → act, each recorded in the step's record. Spending every step is an
        ending too.
        """
        profile = await self._begin()
        for step in range(self._first_step, profile.max_steps):
            ending = self._between_steps(profile, step)
            if ending is None:
                ending = await self._step(profile, step)
            if ending is not None:
                return ending
        self.error = f"step budget spent: {profile.max_steps} steps"
        return "budget_exhausted", None

    async def _begin(self) -> Profile:
        """The task's profile: loaded by the first run; a continued run takes the one it
        carried (one profile per task) with the rest of the state the last run carried."""
        self._started = workflow.now()
        carried = self._carried
        if carried is None:
            workflow.set_current_details(f"Loading profile {self.task.profile!r}")
            self.profile = await stubs.load_profile(self.task.profile)
            return self.profile
        self.profile = carried.profile
        self.steps = continuation.restore(carried, self.effects)
        self.desk.ignored = list(carried.ignored_reviews)
        self._observation, self._refusals = carried.observation, carried.refusals
        return carried.profile

    def _between_steps(self, profile: Profile, step: int) -> Ending | None:
        """Before ``step``: stop to continue as new once history has grown (never before this
        run's first step), or end when the token or time budget is spent; None to go on."""
        if step > self._first_step and continuation.due(profile):
            self.continuation = continuation.carry(
                profile=profile,
                previous=self._carried,
                all_steps=self.steps,
                effects=self.effects,
                first_step=self._first_step,
                next_step=step,
                observation=self._observation,
                refusals=self._refusals,
                started=self._started,
                ignored=self.desk.ignored,
            )
            return "running", None
        if self._over_budget(profile):
            return "budget_exhausted", None
        return None

    async def _step(self, profile: Profile, step: int) -> Ending | None:
        """One step: decide → gate → review → act. Returns the task's ending, or None when the
        step left an observation for the next one (a result, or why nothing ran)."""
        record = await self._decide(profile, step)
        decision = record.decision
        if decision.kind == "final_answer":
            return await self._final_answer(profile, record)
        if decision.kind == "escalate":
            record.note = "the model asked for a human"
            return "escalated", decision.answer
        if decision.kind != "tool_call":  # malformed: the model is told what was wrong
            problem = decision.problem or "the reply could not be used"
            return self._refuse(profile, record, f"refused: {problem}", problem)
        key = self.action_key(step)
        verdict = record.gate = self._gate(profile, record, key)
        if verdict.action == "deny":
            note = f"denied by policy: {verdict.reason}"
            return self._refuse(profile, record, note, note)
        self._refusals = 0
        if verdict.action == "review":
            ending = await self._review_action(profile, record)
            if ending is not None:
                return ending
        await self._act(profile, record, key)
        return None

    async def _decide(self, profile: Profile, step: int) -> StepRecord:
        """Ask the model for ``step``'s decision and start its record. The model gets the
        opening at step 0, then only the newest observation: the conversation itself stays in
        the ``decide`` activity's store, keyed by the first run's id (apart from an earlier
        task that reused this workflow id, the same across continue-as-new)."""
        workflow.set_current_details(f"Step {step + 1} of at most {profile.max_steps}: deciding")
        started_at = workflow.now()
        info = workflow.info()
        task = self.task
        request = DecideRequest(
            conversation_id=f"{info.workflow_id}/{info.first_execution_run_id}",
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
            observation=self._observation,
        )
        decision = await stubs.decide(request, profile.model)
        record = StepRecord(step=step + 1, started_at=started_at, decision=decision)
        self.steps.append(record)
        return record

    def _gate(self, profile: Profile, record: StepRecord, key: str) -> GateVerdict:
        """The policy's verdict on the step's tool call: auto, review or deny. The shadow
        rule's verdict is recorded beside it and never acted on."""
        decision = record.decision
        if not workflow.patched(POLICY_GATE_PATCH):  # recorded before the gate: as it ran
            return GateVerdict(action="auto", reason="recorded before the policy gate")
        # The context only matters to rules with a `scope`, which no run recorded before
        # scopes existed has: those replay with the same verdicts, unpatched.
        inputs: GateInputs = {
            "spent": self.money_spent(profile),
            "sample_key": key,
            "context": self.task.context,
            "refuse_negative": workflow.patched(NEGATIVE_MONEY_PATCH),
            "amounts_as_numbers": workflow.patched(SCOPE_AMOUNTS_PATCH),
        }
        # No patch for the shadow: it is a pure function of recorded inputs whose result only
        # lands in the step record (queries, the result, the ledger), so it schedules no
        # command, and a run recorded before shadows has a profile without one (None, as it
        # ran).
        record.shadow_gate = shadow_gate_decision(profile, decision, **inputs)
        return gate_decision(profile, decision, **inputs)

    def _refuse(self, profile: Profile, record: StepRecord, note: str, error: str) -> Ending | None:
        """A step whose reply cannot run: the model is told ``error`` and tries again, on the
        step budget, unless too many steps in a row were refused (then the task escalates)."""
        record.note = note
        content = json.dumps({"error": error})
        self._observation = Observation(tool_call_id=record.decision.tool_call_id, content=content)
        self._refusals += 1
        if self._too_many_refusals(profile, record):
            return "escalated", None
        return None

    async def _review_action(self, profile: Profile, record: StepRecord) -> Ending | None:
        """Ask a person about the step's action. None: it runs (approved, or with the
        reviewer's edit); otherwise the ending the review gave the task."""
        review = await self._review(profile, record)
        if review is None:
            self.error = f"no reviewer decided step {record.step} before the last deadline"
            return "review_expired", None
        if review.verdict == "reject":
            self.error = f"step {record.step} rejected by {review.reviewer}"
            return "rejected", None
        if review.verdict == "answer":
            record.note = f"answered by reviewer {review.reviewer}"
            return "answered", review.answer
        return None

    async def _act(self, profile: Profile, record: StepRecord, key: str) -> None:
        """Run the step's action under idempotency ``key`` (an irreversible one is deferred to
        the commit point), with a reviewer's edit if any, and tell the model what came of it."""
        decision = record.decision
        binding = profile.binding(decision.tool or "")
        assert binding is not None  # the gate denies tools the profile does not allow
        arguments = steps.arguments_run(record)  # an edit's hidden values kept (edits.py)
        if when_to_run(binding) == "at_commit":
            note = self.effects.defer(binding, record, arguments)
            content = json.dumps({"status": "scheduled", "detail": note})
        else:
            workflow.set_current_details(f"Step {record.step}: running {binding.name}")
            outcome = await self.effects.act(binding, record, arguments, key)
            content = outcome.for_model()
        self._observation = Observation(tool_call_id=decision.tool_call_id, content=content)

    async def _review(self, profile: Profile, record: StepRecord) -> ReviewDecision | None:
        def waiting(awaiting: bool) -> None:
            self.status = "awaiting_review" if awaiting else "running"
            self._publish_status()

        return await self.desk.ask(profile, record, waiting)

    def _too_many_refusals(self, profile: Profile, record: StepRecord) -> bool:
        """After ``max_consecutive_refusals`` refused steps in a row the task escalates, so a
        person sees a model that keeps proposing what cannot run, instead of the model spending
        the whole step budget on it."""
        if not self.run_scoped or self._refusals < profile.max_consecutive_refusals:
            return False
        self.error = (
            f"{self._refusals} refused steps in a row (max_consecutive_refusals = "
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

    def _over_budget(self, profile: Profile) -> bool:
        tokens = self.tokens()
        if profile.max_tokens is not None and tokens >= profile.max_tokens:
            self.error = f"token budget spent: {tokens} of {profile.max_tokens}"
            return True
        # The time budget bounds the agent's own work: time spent waiting for people does not
        # count, or every review longer than the budget would roll the task back.
        this_run = [record for record in self.steps if record.step > self._first_step]
        waited = steps.people_wait(profile, this_run)
        elapsed = (workflow.now() - self._started).total_seconds() - waited
        elapsed += self._carried.agent_seconds if self._carried else 0.0
        if profile.max_duration_seconds is not None and elapsed >= profile.max_duration_seconds:
            self.error = f"time budget spent: {elapsed:.0f} s of {profile.max_duration_seconds:g}"
            return True
        return False
