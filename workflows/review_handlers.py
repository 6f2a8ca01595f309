"""The reviewer's way in, on whichever workflow hosts a governor: the ``submit_review`` signal,
the ``review`` update (with a validator that refuses at once what cannot count) and the
``trace`` query.

``AgentWorkflow`` declares them with decorators that call these functions; a workflow Handrail
did not write (an agent of another framework) gets the same handlers, by the same names, from
:func:`register`, so ``pending``, ``review``, the inbox, the gateway and signed links never
know which framework proposed the action. Workflow code (deterministic).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from handrail.contracts import ReviewDecision, ReviewReceipt, Trace, TraceRequest
    from handrail.errors import describe_validation_error
    from handrail.names import REVIEW_SIGNAL, REVIEW_UPDATE, TRACE_QUERY
    from handrail.workflows.task_state import TaskState


def take_signalled(governor: TaskState, received: RawValue) -> None:
    """A reviewer's decision by signal. One that cannot count (malformed, stale,
    unauthorised, invalid edit) is recorded in the trace as ignored: a signal has no caller to
    answer. It arrives raw so that a malformed one is recorded too, not dropped by the SDK
    with a log line."""
    try:
        data = workflow.payload_converter().from_payload(received.payload)
    except Exception as error:  # not JSON at all: record what can be said of it
        _ignore(governor, None, f"invalid review: cannot decode the signal ({error})")
        return
    try:
        decision = ReviewDecision.model_validate(data)
    except ValidationError as error:
        _ignore(governor, data, describe_validation_error("review", error))
        return
    refusal = governor.desk.refusal(governor.profile, decision)
    if refusal is not None:
        _ignore(governor, decision, refusal.reason)
        return
    governor.desk.take(decision, "signal")


def _ignore(governor: TaskState, received: Any, reason: str) -> None:
    workflow.logger.warning("review ignored: %s", reason)
    governor.desk.ignore(received, reason)


def take_updated(governor: TaskState, decision: ReviewDecision) -> ReviewReceipt:
    """A reviewer's decision by update, refused (by :func:`refuse_if_cannot_count`, the
    validator) if it cannot count."""
    refuse_if_cannot_count(governor, decision)  # another decision may have got in since
    pending = governor.desk.pending
    assert pending is not None
    governor.desk.take(decision, "update")
    return ReviewReceipt(step=decision.step, verdict=decision.verdict, tier=pending.tier)


def refuse_if_cannot_count(governor: TaskState, decision: ReviewDecision) -> None:
    """Typed and non-retryable: a client (any SDK, the CLI) tells the reasons apart by type and
    never retries a decision that will be refused again. In the validator, a refused update is
    never accepted and writes no event: the caller is told, history is not."""
    refusal = governor.desk.refusal(governor.profile, decision)
    if refusal is not None:
        raise ApplicationError(refusal.reason, type=refusal.type, non_retryable=True)


def register(governor: TaskState) -> None:
    """Give the running workflow the reviewer's signal, update and query, bound to
    ``governor``. Call it once, from the workflow's ``@workflow.init`` or first thing in its
    run: a decision that arrives before is buffered by Temporal until then."""

    # Typed like AgentWorkflow's decorated handlers: the SDK converts by these hints.
    def on_signal(received: RawValue) -> None:
        take_signalled(governor, received)

    def on_update(decision: ReviewDecision) -> ReviewReceipt:
        return take_updated(governor, decision)

    def validate(decision: ReviewDecision) -> None:
        refuse_if_cannot_count(governor, decision)

    def on_trace(_request: TraceRequest | None = None) -> Trace:
        return governor.trace()

    workflow.set_signal_handler(REVIEW_SIGNAL, on_signal)
    workflow.set_update_handler(REVIEW_UPDATE, on_update, validator=validate)
    workflow.set_query_handler(TRACE_QUERY, on_trace)
