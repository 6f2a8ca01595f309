"""Continue-as-new for long tasks: when to, what a run carries, and how the next run resumes.

Workflow code (deterministic). A run continues as new between steps — never while a review is
pending or a rollback runs — once its history has ``profile.continue_after_events`` events or
Temporal suggests it. It carries the saga stack, the deferred irreversible actions, the money
moved and the budgets spent, the refusal count, the last step's observation and the newest
``RECENT_STEPS_KEPT`` step records, so review, rollback and limits work across the boundary and
the result stays bounded however long the task runs.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import (
        RECENT_STEPS_KEPT,
        Continuation,
        DeferredAction,
        IgnoredReview,
        Observation,
        Profile,
        StepRecord,
    )
    from handrail.workflows import steps
    from handrail.workflows.effects import Effects

# Runs recorded before continue-as-new existed never continue on replay: the patch marker is
# asked for only when a run would continue, so an old run's replay takes the same path.
CONTINUE_AS_NEW_PATCH = "continue-as-new-v1"


def due(profile: Profile) -> bool:
    """Whether this run should continue as new now (between steps)."""
    info = workflow.info()
    limit = profile.continue_after_events
    over = limit is not None and info.get_current_history_length() >= limit
    return (over or info.is_continue_as_new_suggested()) and workflow.patched(CONTINUE_AS_NEW_PATCH)


def _add(a: dict[str, Decimal], b: dict[str, Decimal]) -> dict[str, Decimal]:
    return {tool: a.get(tool, Decimal(0)) + b.get(tool, Decimal(0)) for tool in {*a, *b}}


def carry(
    *,
    profile: Profile,
    previous: Continuation | None,
    all_steps: list[StepRecord],
    effects: Effects,
    first_step: int,
    next_step: int,
    observation: Observation | None,
    refusals: int,
    started: datetime,
    ignored: list[IgnoredReview],
) -> Continuation:
    """The state the next run starts from. Totals of steps no longer carried move into the
    offsets, so nothing is counted twice or lost."""
    recent, dropped = all_steps[-RECENT_STEPS_KEPT:], all_steps[:-RECENT_STEPS_KEPT]
    this_run = [record for record in all_steps if record.step > first_step]
    agent_seconds = (workflow.now() - started).total_seconds() - steps.people_wait(
        profile, this_run
    )
    return Continuation(
        profile=profile,
        next_step=next_step,
        observation=observation,
        refusals=refusals,
        saga=effects.saga.stack,
        compensations=effects.saga.records,
        deferred=[DeferredAction(record=d.record, arguments=d.arguments) for d in effects.deferred],
        recent_steps=recent,
        earlier_steps=(previous.earlier_steps if previous else 0) + len(dropped),
        tokens=(previous.tokens if previous else 0) + steps.tokens(dropped),
        agent_seconds=(previous.agent_seconds if previous else 0.0) + agent_seconds,
        money=_add(previous.money if previous else {}, steps.money_spent(profile, dropped)),
        changed_world=(previous.changed_world if previous else False)
        or steps.changed_world(profile, dropped),
        ignored_reviews=ignored[-RECENT_STEPS_KEPT:],
        runs=(previous.runs if previous else 1) + 1,
    )


def restore(continued: Continuation, effects: Effects) -> list[StepRecord]:
    """Put the carried saga stack and deferred actions back; returns the carried steps (the
    deferred actions point at these same records, so their outcomes show in the trace)."""
    records = list(continued.recent_steps)
    by_step = {record.step: record for record in records}
    effects.saga.restore(continued.saga, continued.compensations)
    for action in continued.deferred:
        record = by_step.get(action.record.step, action.record)
        binding = continued.profile.binding(record.decision.tool or "")
        if binding is not None:
            effects.deferred.append(steps.Deferred(binding, record, action.arguments))
    return records
