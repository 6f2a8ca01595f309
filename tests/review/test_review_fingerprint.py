"""A decision bound to what was reviewed: the pending review publishes the proposal's
fingerprint, and the ``review`` update's validator (and the signal's handler, by the same rule)
refuses a decision that names another one, with its own type. Real workflow, real dev server."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.contracts import AgentTask, PendingReview, Trace
from handrail.errors import ErrorType, ReviewRefusedError
from handrail.names import WORKFLOW_TYPE
from handrail.review.fingerprint import proposal_fingerprint
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending

REFUND = {"order_id": 1003, "amount": "80.00", "reason": "damaged"}


def _fingerprint(**change: Any) -> str:
    fields: dict[str, Any] = {
        "task_id": "t",
        "run_id": "r",
        "step": 1,
        "tool": "issue_refund",
        "arguments": REFUND,
    }
    return proposal_fingerprint(**{**fields, **change})


def test_the_fingerprint_is_canonical_and_pinned() -> None:
    one = _fingerprint()
    assert _fingerprint(arguments=dict(reversed(list(REFUND.items())))) == one
    # Pinned: a change of the canonical form would refuse every link and decision in flight.
    text = (
        '{"arguments":{"amount":"80.00","order_id":1003,"reason":"damaged"},"run":"r",'
        '"step":1,"task":"t","tool":"issue_refund","v":"handrail-proposal-v1"}'
    )
    assert one == hashlib.sha256(text.encode()).hexdigest()
    assert one == "baae1d2f325936d8405a13e8eb65f1d769abc98d7322cca123cd70ae29c696f9"


@pytest.mark.parametrize(
    "change",
    [
        {"task_id": "t2"},
        {"run_id": "r2"},
        {"step": 2},
        {"tool": "apply_discount"},
        {"arguments": {**REFUND, "amount": "80.01"}},
        {"arguments": {**REFUND, "note": None}},
    ],
)
def test_every_covered_field_changes_the_fingerprint(change: dict[str, Any]) -> None:
    assert _fingerprint() != _fingerprint(**change)


async def _paused_refund(handrail: HandrailClient, server: ScriptedModelServer) -> str:
    create_store(store_db_path(handrail.settings))
    server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    handle = await handrail.start_task({"goal": "Resolve order 1003", "profile": PROFILE})
    await wait_for_pending(handrail, handle.id)
    return handle.id


async def _first_run_id(client: Client, task_id: str) -> str:
    described = await client.get_workflow_handle(task_id).describe()
    first: str = described.raw_description.workflow_execution_info.first_run_id
    return first or described.run_id


@pytest.mark.usefixtures("worker")
async def test_the_pending_review_publishes_its_fingerprint_and_a_matching_one_counts(
    handrail: HandrailClient, client: Client, model_server: ScriptedModelServer
) -> None:
    task_id = await _paused_refund(handrail, model_server)
    pending = await wait_for_pending(handrail, task_id)
    expected = proposal_fingerprint(
        task_id=task_id,
        run_id=await _first_run_id(client, task_id),
        step=1,
        tool="issue_refund",
        arguments=pending.arguments,
    )
    assert pending.fingerprint == expected
    trace = await handrail.get_trace(task_id)  # what `pending` and the inbox read
    assert trace.pending_review is not None
    assert trace.pending_review.fingerprint == expected

    receipt = await handrail.review(
        task_id,
        {"reviewer": "alice", "step": 1, "verdict": "approve", "fingerprint": expected},
    )
    assert receipt.verdict == "approve"
    result = await handrail.get_result(task_id)
    assert result.status == "answered"
    review = result.steps[0].review
    assert review is not None
    assert review.fingerprint == expected  # the record says what the approval was bound to

    history = await client.get_workflow_handle(task_id).fetch_history()
    patches = [
        payload.data
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads
    ]
    assert any(b'"review-fingerprint-v1"' in data for data in patches)  # the patch's marker


@pytest.mark.usefixtures("worker")
async def test_a_decision_for_another_fingerprint_is_refused_with_its_own_type(
    handrail: HandrailClient, model_server: ScriptedModelServer
) -> None:
    task_id = await _paused_refund(handrail, model_server)
    pending = await wait_for_pending(handrail, task_id)
    assert pending.fingerprint is not None
    other = "0" * 64
    with pytest.raises(ReviewRefusedError) as refused:
        await handrail.review(
            task_id, {"reviewer": "alice", "step": 1, "verdict": "approve", "fingerprint": other}
        )
    assert refused.value.error_type == ErrorType.REVIEW_FINGERPRINT_MISMATCH
    assert other in str(refused.value)
    assert pending.fingerprint in str(refused.value)  # it names both

    # The signal follows the same rule: recorded as ignored, the step still waits.
    await handrail.signal_review(
        task_id, {"reviewer": "alice", "step": 1, "verdict": "approve", "fingerprint": other}
    )
    trace = await _trace_with_ignored(handrail, task_id)
    assert "proposal" in trace.ignored_reviews[0].reason
    assert trace.pending_review is not None

    # A decision without a fingerprint (the CLI, a hand-written signal) still counts.
    await handrail.review(task_id, {"reviewer": "bob", "step": 1, "verdict": "reject"})
    assert (await handrail.get_result(task_id)).status == "rejected"


async def _trace_with_ignored(handrail: HandrailClient, task_id: str) -> Trace:
    for _ in range(100):
        trace = await handrail.get_trace(task_id)
        if trace.ignored_reviews:
            return trace
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ignored review in {task_id}")


async def _pending_of_a_fresh_run(
    client: Client, handrail: HandrailClient, settings: HandrailSettings, workflow_id: str
) -> PendingReview:
    # Started as a foreign client would: the default id reuse policy lets a closed id run again.
    await client.start_workflow(
        WORKFLOW_TYPE,
        AgentTask(goal="Resolve order 1003", profile=PROFILE),
        id=workflow_id,
        task_queue=settings.task_queue,
    )
    return await wait_for_pending(handrail, workflow_id)


@pytest.mark.usefixtures("worker")
async def test_the_same_proposal_in_a_new_run_of_the_task_id_is_another_proposal(
    handrail: HandrailClient,
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
) -> None:
    create_store(store_db_path(settings))
    workflow_id = f"order-1003-{uuid.uuid4().hex[:6]}"
    model_server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    first = await _pending_of_a_fresh_run(client, handrail, settings, workflow_id)
    await handrail.review(workflow_id, {"reviewer": "alice", "step": 1, "verdict": "reject"})
    await handrail.get_result(workflow_id)

    model_server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    second = await _pending_of_a_fresh_run(client, handrail, settings, workflow_id)
    assert (second.step, second.tool, second.arguments) == (1, first.tool, first.arguments)
    assert second.fingerprint != first.fingerprint
    with pytest.raises(ReviewRefusedError) as refused:
        await handrail.review(
            workflow_id,
            {
                "reviewer": "alice",
                "step": 1,
                "verdict": "approve",
                "fingerprint": first.fingerprint,
            },
        )
    assert refused.value.error_type == ErrorType.REVIEW_FINGERPRINT_MISMATCH
    await handrail.review(workflow_id, {"reviewer": "alice", "step": 1, "verdict": "reject"})
    await handrail.get_result(workflow_id)
