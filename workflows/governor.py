"""The governor: Handrail's governance of one task, as a service any workflow can host.

For each action an agent proposes it gates (the profile's policy), asks a person when the gate
says so (``review_desk``), runs the effect under a per-run idempotency key with its undo pushed
first, or holds an irreversible one to the commit point (``effects``). It keeps the task's state
that the ``trace`` query shows, and it ends the task (``endings``): commit, or roll back in
reverse, then the run ledger.

Handrail's own loop (``loop.TaskRun``) is one user: it decides with the model and hands each
decision here. An agent built with another framework is another (``handrail.frameworks``): its
adapter hands each tool call to :meth:`Governor.propose`, and the host workflow runs the agent
inside :meth:`Governor.govern`; ``review_handlers.register`` gives that workflow the same
``review`` update, ``submit_review`` signal and ``trace`` query as ``AgentWorkflow``.

Workflow code (deterministic).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import (
        AgentTask,
        Decision,
        GateVerdict,
        Profile,
        ReviewDecision,
        StepRecord,
        TaskResult,
    )
    from handrail.policy.gate import (
        GateInputs,
        gate_decision,
        gate_final_answer,
        shadow_gate_decision,
        when_to_run,
    )
    from handrail.workflows import endings, review_handlers, steps, stubs
    from handrail.workflows.effects import RunTool
    from handrail.workflows.task_state import Ending, TaskState

# Versioning: runs that started before the policy gate existed replay without it (their
# recorded steps ran ungated); every run started since records this marker and is gated.
POLICY_GATE_PATCH = "policy-gate-v1"
# Negative amounts are denied (they would lower the running total under task_limit); runs
# recorded before replay the verdicts they got.
NEGATIVE_MONEY_PATCH = "negative-money-denied-v1"
# Runs recorded before a bound money argument compared as a number ("12.5" vs the context's
# "12.50" was outside the scope) replay with the verdicts they had.
SCOPE_AMOUNTS_PATCH = "scope-amounts-as-numbers-v1"

FRAMEWORK_OUTPUT = "output"
"""The key of a framework tool's text in its ``ToolOutcome.result`` (what its agent reads)."""


class TaskEndedError(Exception):
    """Raised by :meth:`Governor.propose` when governance ends the task (a reviewer rejected
    or answered, no reviewer decided in time, a budget is spent, too many refused calls): the
    framework's run must stop. :meth:`Governor.govern` ends the task with ``ending`` even when
    a framework wraps or swallows this error (the governor remembers it)."""

    def __init__(self, ending: Ending) -> None:
        super().__init__(f"the task ended: {ending[0]}")
        self.ending = ending


class Governor(TaskState):
    """One task's governance: each proposed action gated, perhaps reviewed, then run or held
    to the commit point; the state it keeps is :class:`TaskState`'s."""

    @classmethod
    def host(cls, task: AgentTask) -> Governor:
        """The governor of ``task`` on the running workflow, which gets the reviewer's
        ``review`` update, ``submit_review`` signal and ``trace`` query. Call it once, in the
        workflow's ``@workflow.init`` or first thing in its run, and keep it on the workflow
        object (``self.governor = Governor.host(task)``): :meth:`current` finds it there."""
        governor = cls(task)
        review_handlers.register(governor)
        return governor

    @staticmethod
    def current() -> Governor:
        """The governor the running workflow hosts (a framework adapter's tools find it so)."""
        hosted = [v for v in vars(workflow.instance()).values() if isinstance(v, Governor)]
        if len(hosted) != 1:
            raise RuntimeError(
                f"this workflow keeps {len(hosted)} Handrail governors on itself, not one: "
                "keep the one from Governor.host(task) as an attribute of the workflow object"
            )
        return hosted[0]

    def gate(self, profile: Profile, record: StepRecord, key: str) -> GateVerdict:
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

    def refuse(self, profile: Profile, record: StepRecord, note: str) -> Ending | None:
        """Count a step whose proposal cannot run; after ``max_consecutive_refusals`` in a row
        the task escalates (the ending), so a person sees a model that keeps proposing what
        cannot run instead of the model spending the whole step budget on it."""
        record.note = note
        self.refusals += 1
        if not self.run_scoped or self.refusals < profile.max_consecutive_refusals:
            return None
        self.error = (
            f"{self.refusals} refused steps in a row (max_consecutive_refusals = "
            f"{profile.max_consecutive_refusals}); last: {record.note}"
        )
        record.note += "; escalated: too many refused steps in a row"
        return "escalated", None

    async def review(self, profile: Profile, record: StepRecord) -> ReviewDecision | None:
        """Ask a person about the step's proposal; the task shows ``awaiting_review`` while
        it waits."""

        def waiting(awaiting: bool) -> None:
            self.status = "awaiting_review" if awaiting else "running"
            self.publish_status()

        return await self.desk.ask(profile, record, waiting)

    async def review_action(self, profile: Profile, record: StepRecord) -> Ending | None:
        """Ask a person about the step's action. None: it runs (approved, or with the
        reviewer's edit); otherwise the ending the review gave the task."""
        review = await self.review(profile, record)
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

    async def act(
        self, profile: Profile, record: StepRecord, key: str, run: RunTool | None = None
    ) -> str:
        """Run the step's action under idempotency ``key`` (an irreversible one is deferred to
        the commit point), with a reviewer's edit if any; returns what the model is told.
        ``run``: how a tool the framework runs itself is run (``ToolBinding.framework``)."""
        binding = profile.binding(record.decision.tool or "")
        assert binding is not None  # the gate denies tools the profile does not allow
        arguments = steps.arguments_run(record)  # an edit's hidden values kept (edits.py)
        if when_to_run(binding) == "at_commit":
            note = self.effects.defer(binding, record, arguments, run)
            return json.dumps({"status": "scheduled", "detail": note})
        workflow.set_current_details(f"Step {record.step}: running {binding.name}")
        outcome = await self.effects.act(binding, record, arguments, key, run)
        if binding.framework and outcome.ok:  # the agent reads what its own tool said
            return str(outcome.result.get(FRAMEWORK_OUTPUT, ""))
        return outcome.for_model()

    async def final_answer(self, profile: Profile, record: StepRecord) -> Ending:
        """End with the model's answer if the policy lets it, else as a reviewer decides."""
        answer = record.decision.answer
        if not self.run_scoped:  # recorded before final answers were gated
            record.note = "answered"
            return "answered", answer
        record.gate = gate_final_answer(
            profile,
            record.decision,
            changed_world=steps.changed_world(profile, self.steps)
            or bool(self.carried and self.carried.changed_world),
        )
        if record.gate.action == "auto":
            record.note = "answered"
            return "answered", answer
        review = await self.review(profile, record)
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

    # --- for an agent another framework runs ----------------------------------------------

    async def govern(self, agent: Callable[[Profile], Awaitable[str | None]]) -> TaskResult:
        """Run an agent another framework drives, under this governor, to the task's end.

        ``agent`` gets the loaded profile, runs the framework (whose tool calls come to
        :meth:`propose`) and returns its final answer, which is gated like the loop's. The task
        then commits, or rolls back in reverse on a failure, a cancellation or an ending
        governance chose (``TaskEndedError``, even if the framework wrapped it)."""

        async def work() -> Ending:
            profile = await self.begin()
            try:
                answer = await agent(profile)
            except Exception:
                if self.ended is not None:  # the framework surfaced TaskEndedError its way
                    return self.ended
                raise
            if self.ended is not None:  # the framework swallowed it and went on
                return self.ended
            return await self.answer_with(answer)

        return await endings.govern(self, work)

    async def begin(self) -> Profile:
        """Load the task's profile (the first thing a governed run does)."""
        workflow.set_current_details(f"Loading profile {self.task.profile!r}")
        self.profile = await stubs.load_profile(self.task.profile, describe_tools=True)
        return self.profile

    def loaded_profile(self) -> Profile:
        if self.profile is None:
            raise RuntimeError("the governor has not loaded the task's profile yet")
        return self.profile

    async def propose(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        run: RunTool | None = None,
        tool_call_id: str | None = None,
        rationale: str = "",
        confidence: float | None = None,
        review_reason: str | None = None,
    ) -> str:
        """Govern one tool call an agent proposes and return what the agent is told: the
        result, or why it did not run (denied by policy: the model may try something else).

        ``run`` runs a tool the framework defines itself (the profile's ``framework_tools``);
        a tool declared with Handrail's ``@tool`` runs as its own activity. ``review_reason``:
        the framework's own definition asks for approval (``needs_approval``,
        ``requires_approval``), so a person decides even where the policy would not ask.
        Raises :class:`TaskEndedError` when governance ends the task."""
        if self.ended is not None:
            raise TaskEndedError(self.ended)
        profile = self.loaded_profile()
        ending = self._spent(profile)
        record = self.open_step(
            Decision(
                kind="tool_call",
                tool=tool,
                arguments=arguments,
                rationale=rationale,
                confidence=confidence,
                tool_call_id=tool_call_id,
                model=profile.model,
            )
        )
        if ending is not None:
            record.note = f"not run: {self.error}"
            raise self._end(ending)
        key = self.action_key(record.step - 1)
        verdict = record.gate = self.gate(profile, record, key)
        if verdict.action == "auto" and review_reason is not None:
            verdict = record.gate = GateVerdict(action="review", reason=review_reason)
        if verdict.action == "deny":
            note = f"denied by policy: {verdict.reason}"
            refused = self.refuse(profile, record, note)
            if refused is not None:
                raise self._end(refused)
            return json.dumps({"error": note})
        self.refusals = 0
        if verdict.action == "review":
            reviewed = await self.review_action(profile, record)
            if reviewed is not None:
                raise self._end(reviewed)
        return await self.act(profile, record, key, run)

    def _spent(self, profile: Profile) -> Ending | None:
        """The ending when the step, token or time budget is spent before a proposal."""
        if self.next_step_number() > profile.max_steps:
            self.error = f"step budget spent: {profile.max_steps} steps"
            return "budget_exhausted", None
        if self.over_budget(profile, 0):
            return "budget_exhausted", None
        return None

    def _end(self, ending: Ending) -> TaskEndedError:
        self.ended = ending
        return TaskEndedError(ending)

    async def answer_with(self, text: str | None, *, confidence: float | None = None) -> Ending:
        """The framework's final answer, gated like the loop's (and perhaps reviewed)."""
        profile = self.loaded_profile()
        record = self.open_step(Decision(kind="final_answer", answer=text, confidence=confidence))
        return await self.final_answer(profile, record)
