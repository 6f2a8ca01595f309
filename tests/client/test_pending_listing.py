"""``pending_reviews`` lists what waits for a person on a shared server: one task it cannot ask
in time must not hide the others, nor fail the listing (seen in CI: a loaded dev server cancelled
one task's DescribeTaskQueue, and the whole listing raised)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.contracts import Trace
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.review_helpers import PROFILE, answer, refund, wait_for_pending

pytestmark = pytest.mark.usefixtures("worker")


async def test_a_task_that_does_not_answer_in_time_is_left_out_and_said(
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    settings: HandrailSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_store(store_db_path(settings))
    started = []
    for order in (1003, 1002):
        model_server.brain = Scenario([refund(order, "80.00"), answer("Refunded")])
        handle = await handrail.start_task({"goal": f"Resolve order {order}", "profile": PROFILE})
        await wait_for_pending(handrail, handle.id)
        started.append(handle.id)
    slow, answering = started
    get_trace = HandrailClient.get_trace

    async def cancelled_for_one(self: HandrailClient, task_id: str, **kwargs: Any) -> Trace:
        if task_id == slow:
            raise RPCError("operation was canceled", RPCStatusCode.CANCELLED, b"")
        return await get_trace(self, task_id, **kwargs)

    monkeypatch.setattr(HandrailClient, "get_trace", cancelled_for_one)
    with caplog.at_level(logging.WARNING, logger="handrail.client.core"):
        listed = await handrail.pending_reviews(task_queue=settings.task_queue)
    assert [task_id for task_id, _ in listed] == [answering]
    assert f"task {slow} did not answer in time" in caplog.text

    async def refused_for_one(self: HandrailClient, task_id: str, **kwargs: Any) -> Trace:
        raise RPCError("denied", RPCStatusCode.PERMISSION_DENIED, b"")

    # Any other refusal is not a slow server: it still fails the listing, naming itself.
    monkeypatch.setattr(HandrailClient, "get_trace", refused_for_one)
    with pytest.raises(RPCError, match="denied"):
        await handrail.pending_reviews(task_queue=settings.task_queue)
    monkeypatch.setattr(HandrailClient, "get_trace", get_trace)
    for task_id in started:
        await handrail.review(task_id, {"reviewer": "alice", "step": 1, "verdict": "reject"})
