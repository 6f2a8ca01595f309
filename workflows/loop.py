"""Handrail's own agent loop: one run of a task, deciding with the model step by step.

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

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import (
        Continuation,
        DecideRequest,
        Observation,
        Opening,
        Profile,
        StepRecord,
    )
    from handrail.workflows import continuation, stubs
    from handrail.workflows.governor import Governor
    from handrail.workflows.task_state import Ending


class TaskRun:
    """Handrail's own agent loop over one task run: it asks the model and hands each decision
    to the ``governor``, which holds the task's state (what the ``trace`` query shows)."""

    def __init__(self, governor: Governor) -> None:
        self.governor = governor
        self.task = governor.task
        self.continuation: Continuation | None = None
        """Set when this run stops to continue as new; the workflow then does."""
        self._carried = self.task.continued
        self._first_step = self._carried.next_step if self._carried else 0
        self._observation: Observation | None = None
        """What the model is told at its next decision: the last step's result or refusal."""

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
        self.governor.error = f"step budget spent: {profile.max_steps} steps"
        return "budget_exhausted", None

    async def _begin(self) -> Profile:
        """The task's profile: loaded by the first run; a continued run takes the one it
        carried (one profile per task) with the rest of the state the last run carried."""
        governor = self.governor
        governor.started = workflow.now()
        carried = self._carried
        if carried is None:
            workflow.set_current_details(f"Loading profile {self.task.profile!r}")
            governor.profile = await stubs.load_profile(self.task.profile)
            return governor.profile
        governor.profile = carried.profile
        governor.steps = continuation.restore(carried, governor.effects)
        governor.desk.ignored = list(carried.ignored_reviews)
        self._observation, governor.refusals = carried.observation, carried.refusals
        return carried.profile

    def _between_steps(self, profile: Profile, step: int) -> Ending | None:
        """Before ``step``: stop to continue as new once history has grown (never before this
        run's first step), or end when the token or time budget is spent; None to go on."""
        governor = self.governor
        if step > self._first_step and continuation.due(profile):
            self.continuation = continuation.carry(
                profile=profile,
                previous=self._carried,
                all_steps=governor.steps,
                effects=governor.effects,
                first_step=self._first_step,
                next_step=step,
                observation=self._observation,
                refusals=governor.refusals,
                started=governor.started,
                ignored=governor.desk.ignored,
            )
            return "running", None
        if governor.over_budget(profile, self._first_step):
            return "budget_exhausted", None
        return None

    async def _step(self, profile: Profile, step: int) -> Ending | None:
        """One step: decide → gate → review → act. Returns the task's ending, or None when the
        step left an observation for the next one (a result, or why nothing ran)."""
        governor = self.governor
        record = await self._decide(profile, step)
        decision = record.decision
        if decision.kind == "final_answer":
            return await governor.final_answer(profile, record)
        if decision.kind == "escalate":
            record.note = "the model asked for a human"
            return "escalated", decision.answer
        if decision.kind != "tool_call":  # malformed: the model is told what was wrong
            problem = decision.problem or "the reply could not be used"
            return self._refuse(profile, record, f"refused: {problem}", problem)
        key = governor.action_key(step)
        verdict = record.gate = governor.gate(profile, record, key)
        if verdict.action == "deny":
            note = f"denied by policy: {verdict.reason}"
            return self._refuse(profile, record, note, note)
        governor.refusals = 0
        if verdict.action == "review":
            ending = await governor.review_action(profile, record)
            if ending is not None:
                return ending
        content = await governor.act(profile, record, key)
        self._observation = Observation(tool_call_id=decision.tool_call_id, content=content)
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
        return self.governor.open_step(decision, started_at, number=step + 1)

    def _refuse(self, profile: Profile, record: StepRecord, note: str, error: str) -> Ending | None:
        """A step whose reply cannot run: the model is told ``error`` and tries again, on the
        step budget, unless too many steps in a row were refused (then the task escalates)."""
        content = json.dumps({"error": error})
        self._observation = Observation(tool_call_id=record.decision.tool_call_id, content=content)
        return self.governor.refuse(profile, record, note)
