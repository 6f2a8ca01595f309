"""Refused review decisions are typed and final, for every client: the update's validator raises
an ``ApplicationError`` with one type per reason and ``non_retryable``; a malformed signal is
recorded under ``ignored_reviews`` instead of being dropped by the SDK."""

from __future__ import annotations

import asyncio
import json

import pytest

from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.contracts import Trace
from handrail.errors import ErrorType, ReviewRefusedError
from handrail.runtime.devserver import find_temporal_binary
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending

pytestmark = pytest.mark.usefixtures("worker")


async def _reject(handrail: HandrailClient, task_id: str) -> None:
    """End the paused task, so that no workflow is left mid-wait when the worker stops."""
    await handrail.review(task_id, {"reviewer": "bob", "step": 1, "verdict": "reject"})
    assert (await handrail.get_result(task_id)).status == "rejected"


async def _paused_refund(handrail: HandrailClient, server: ScriptedModelServer) -> str:
    create_store(store_db_path(handrail.settings))
    server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    handle = await handrail.start_task({"goal": "Resolve order 1003", "profile": PROFILE})
    await wait_for_pending(handrail, handle.id)
    return handle.id


@pytest.mark.parametrize(
    ("decision", "error_type"),
    [
        ({"reviewer": "mallory", "verdict": "approve"}, ErrorType.REVIEW_UNAUTHORISED),
        ({"reviewer": "alice", "verdict": "approve", "step": 9}, ErrorType.REVIEW_STALE),
        (
            {"reviewer": "alice", "verdict": "edit", "arguments": {"order_id": "x"}},
            ErrorType.REVIEW_INVALID_EDIT,
        ),
        (
            {
                "reviewer": "alice",
                "verdict": "edit",
                "arguments": {"order_id": 1003, "amount": "900.00", "reason": "all of it"},
            },
            ErrorType.REVIEW_POLICY_DENIED,
        ),
        ({"reviewer": "alice", "verdict": "answer", "answer": "  "}, ErrorType.REVIEW_INCOMPLETE),
    ],
)
async def test_each_refusal_has_its_own_type(
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    decision: dict[str, object],
    error_type: str,
) -> None:
    task_id = await _paused_refund(handrail, model_server)
    with pytest.raises(ReviewRefusedError) as refused:
        await handrail.review(task_id, {"step": 1, **decision})
    assert refused.value.error_type == error_type
    await _reject(handrail, task_id)


async def test_the_temporal_cli_sees_a_typed_non_retryable_refusal(
    handrail: HandrailClient, model_server: ScriptedModelServer, temporal_address: str
) -> None:
    task_id = await _paused_refund(handrail, model_server)
    process = await asyncio.create_subprocess_exec(
        str(find_temporal_binary()),
        "workflow",
        "update",
        "execute",
        "--address",
        temporal_address,
        "--workflow-id",
        task_id,
        "--name",
        "review",
        "--input",
        json.dumps({"reviewer": "mallory", "step": 1, "verdict": "approve"}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    output = (stdout + stderr).decode()
    assert process.returncode != 0
    assert "may not review" in output
    assert "ReviewUnauthorised" in output
    assert "(type: ReviewUnauthorised, retryable: false)" in output
    await _reject(handrail, task_id)


async def test_a_malformed_signal_is_recorded_as_ignored(
    handrail: HandrailClient, model_server: ScriptedModelServer
) -> None:
    task_id = await _paused_refund(handrail, model_server)
    handle = handrail.temporal.get_workflow_handle(task_id)
    # No step, and a payload that is not even an object: both are recorded, neither counts.
    await handle.signal("submit_review", {"reviewer": "alice", "verdict": "approve"})
    await handle.signal("submit_review", "approve!")
    trace: Trace | None = None
    for _ in range(100):
        trace = await handrail.get_trace(task_id)
        if len(trace.ignored_reviews) == 2:
            break
        await asyncio.sleep(0.05)
    assert trace is not None
    reasons = [ignored.reason for ignored in trace.ignored_reviews]
    assert len(reasons) == 2
    assert "step: Field required" in reasons[0]
    assert trace.ignored_reviews[0].decision == {"reviewer": "alice", "verdict": "approve"}
    assert trace.ignored_reviews[1].decision == "approve!"
    assert trace.pending_review is not None  # the step still waits for a real decision
    await _reject(handrail, task_id)
