"""Human review on a real dev server: the policy pauses a risky action until a reviewer
approves, edits, rejects or answers; stale and unauthorised decisions are refused by the update
and recorded-and-ignored by the signal."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from temporalio.client import Client

from examples.store.database import create_store, snapshot
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.errors import InvalidReviewError, ReviewRefusedError
from handrail.runtime.devserver import find_temporal_binary
from handrail.search_attributes import AWAITING_REVIEW, REVIEW_TIER, REVIEW_TOOL
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.review_helpers import PROFILE, answer, discount, refund, wait_for_pending

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(autouse=True)
def _store(settings: HandrailSettings) -> None:
    create_store(store_db_path(settings))


async def _start(
    handrail: HandrailClient, server: ScriptedModelServer, *replies: ToolCallReply
) -> str:
    server.brain = Scenario(list(replies))
    handle = await handrail.start_task({"goal": "Resolve order 1003", "profile": PROFILE})
    return handle.id


def _refunds(settings: HandrailSettings) -> list[tuple[int, int]]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return db.execute("SELECT order_id, amount_cents FROM refunds").fetchall()


async def test_a_large_refund_waits_for_approval_then_runs(
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    settings: HandrailSettings,
    client: Client,
) -> None:
    task_id = await _start(handrail, model_server, refund(1003, "80.00"), answer("Refunded"))
    pending = await wait_for_pending(handrail, task_id)
    assert (pending.step, pending.tool, pending.tier) == (1, "issue_refund", "support")
    assert pending.reviewers == ["alice", "bob", "carol"]  # carol's tier is above
    assert pending.reason == "issue_refund of 80.00 is above 50"
    assert _refunds(settings) == []  # nothing ran unreviewed

    description = await client.get_workflow_handle(task_id).describe()
    attributes = description.typed_search_attributes
    assert attributes.get(AWAITING_REVIEW) is True
    assert attributes.get(REVIEW_TIER) == "support"
    assert attributes.get(REVIEW_TOOL) == "issue_refund"
    assert [t for t, _ in await handrail.pending_reviews()] == [task_id]

    receipt = await handrail.review(task_id, {"reviewer": "alice", "step": 1, "verdict": "approve"})
    assert (receipt.step, receipt.verdict, receipt.tier) == (1, "approve", "support")
    result = await handrail.get_result(task_id)
    assert result.status == "answered"
    assert _refunds(settings) == [(1003, 8000)]
    review = result.steps[0].review
    assert review is not None
    assert (review.reviewer, review.verdict, review.via, review.tier) == (
        "alice",
        "approve",
        "update",
        "support",
    )
    assert review.wait_seconds >= 0
    assert result.steps[0].gate is not None
    assert result.steps[0].gate.action == "review"
    description = await client.get_workflow_handle(task_id).describe()
    assert description.typed_search_attributes.get(AWAITING_REVIEW) is False
    assert task_id not in [t for t, _ in await handrail.pending_reviews()]


async def test_an_edit_runs_with_the_reviewers_arguments(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    task_id = await _start(handrail, model_server, refund(1003, "80.00"), answer())
    await wait_for_pending(handrail, task_id)
    edited = {"order_id": 1003, "amount": "40.00", "reason": "partial: one item damaged"}
    with pytest.raises(
        ReviewRefusedError, match=r"edited arguments refused by policy: .*above the limit of 500"
    ):
        await handrail.review(
            task_id,
            {
                "reviewer": "bob",
                "step": 1,
                "verdict": "edit",
                "arguments": edited | {"amount": "900.00"},
            },
        )
    with pytest.raises(ReviewRefusedError, match=r"invalid arguments: .*'colour'"):
        await handrail.review(
            task_id,
            {
                "reviewer": "bob",
                "step": 1,
                "verdict": "edit",
                "arguments": edited | {"colour": "red"},
            },
        )
    await handrail.review(
        task_id, {"reviewer": "bob", "step": 1, "verdict": "edit", "arguments": edited}
    )
    result = await handrail.get_result(task_id)
    assert _refunds(settings) == [(1003, 4000)]
    review = result.steps[0].review
    assert review is not None
    assert review.arguments == edited
    assert result.steps[0].decision.arguments["amount"] == "80.00"  # what the model proposed


async def test_a_rejection_rolls_back_what_was_done(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    before = snapshot(store_db_path(settings))
    task_id = await _start(
        handrail, model_server, discount(1003, "5.00"), refund(1003, "80.00"), answer()
    )
    await wait_for_pending(handrail, task_id)
    assert len(snapshot(store_db_path(settings))["discounts"]) == 1  # the discount ran on its own
    await handrail.review(
        task_id, {"reviewer": "alice", "step": 2, "verdict": "reject", "comment": "too much"}
    )
    result = await handrail.get_result(task_id)
    assert result.status == "rejected"
    # The refund never ran (its undo is pushed only when it is about to run); the discount did.
    assert [(c.tool, c.status) for c in result.compensations] == [("apply_discount", "undone")]
    assert snapshot(store_db_path(settings)) == before
    review = result.steps[1].review
    assert review is not None
    assert (review.verdict, review.comment) == ("reject", "too much")


async def test_a_reviewer_can_answer_instead_of_the_agent(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    task_id = await _start(handrail, model_server, refund(1003, "80.00"), answer("never used"))
    await wait_for_pending(handrail, task_id)
    with pytest.raises(ReviewRefusedError, match="an answer needs its text"):
        await handrail.review(task_id, {"reviewer": "alice", "step": 1, "verdict": "answer"})
    text = "We will replace the tent instead; no refund is needed."
    await handrail.review(
        task_id, {"reviewer": "alice", "step": 1, "verdict": "answer", "answer": text}
    )
    result = await handrail.get_result(task_id)
    assert (result.status, result.answer) == ("answered", text)
    assert _refunds(settings) == []
    assert result.steps[0].note == "answered by reviewer alice"


async def test_unauthorised_and_stale_decisions_are_refused_and_ignored(
    handrail: HandrailClient, model_server: ScriptedModelServer
) -> None:
    task_id = await _start(handrail, model_server, refund(1003, "80.00"), answer())
    await wait_for_pending(handrail, task_id)
    with pytest.raises(
        ReviewRefusedError,
        match=r"'mallory' may not review at tier 'support' \(allowed: alice, bob, carol\)",
    ):
        await handrail.review(task_id, {"reviewer": "mallory", "step": 1, "verdict": "approve"})
    with pytest.raises(
        ReviewRefusedError, match=r"stale: step 7 is not awaiting review \(step 1 is\)"
    ):
        await handrail.review(task_id, {"reviewer": "alice", "step": 7, "verdict": "approve"})
    with pytest.raises(InvalidReviewError, match="verdict"):
        await handrail.review(task_id, {"reviewer": "alice", "step": 1, "verdict": "maybe"})

    # The same decisions by signal are recorded and ignored; the step still waits.
    await handrail.signal_review(task_id, {"reviewer": "mallory", "step": 1, "verdict": "approve"})
    await handrail.signal_review(task_id, {"reviewer": "alice", "step": 7, "verdict": "reject"})
    trace = await handrail.get_trace(task_id)
    for _ in range(50):
        if len(trace.ignored_reviews) == 2:
            break
        await asyncio.sleep(0.05)
        trace = await handrail.get_trace(task_id)
    assert [i.reason for i in trace.ignored_reviews] == [
        "'mallory' may not review at tier 'support' (allowed: alice, bob, carol)",
        "stale: step 7 is not awaiting review (step 1 is)",
    ]
    assert trace.pending_review is not None

    await handrail.review(
        task_id, {"reviewer": "carol", "step": 1, "verdict": "approve"}
    )  # a higher tier may decide
    with pytest.raises(ReviewRefusedError, match="stale: step 1 is not awaiting review"):
        await handrail.review(task_id, {"reviewer": "bob", "step": 1, "verdict": "reject"})
    result = await handrail.get_result(task_id)
    assert result.status == "answered"
    review = result.steps[0].review
    assert review is not None
    assert review.reviewer == "carol"


async def test_a_signal_from_the_temporal_cli_resumes_the_task(
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    temporal_address: str,
    settings: HandrailSettings,
) -> None:
    task_id = await _start(handrail, model_server, refund(1003, "80.00"), answer())
    await wait_for_pending(handrail, task_id)
    process = await asyncio.create_subprocess_exec(
        str(find_temporal_binary()),
        "workflow",
        "signal",
        "--address",
        temporal_address,
        "--workflow-id",
        task_id,
        "--name",
        "submit_review",
        "--input",
        json.dumps({"reviewer": "bob", "step": 1, "verdict": "approve"}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr
    result = await handrail.get_result(task_id)
    assert result.status == "answered"
    review = result.steps[0].review
    assert review is not None
    assert (review.reviewer, review.via) == ("bob", "signal")
    assert _refunds(settings) == [(1003, 8000)]


async def test_a_denied_action_never_runs_and_the_model_is_told(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    task_id = await _start(handrail, model_server, refund(1003, "600.00"), answer("I cannot"))
    result = await handrail.get_result(task_id)
    assert result.status == "answered"
    step = result.steps[0]
    assert step.gate is not None
    assert (step.gate.action, step.gate.reason) == (
        "deny",
        "issue_refund of 600.00 is above the limit of 500",
    )
    assert step.outcome is None
    assert _refunds(settings) == []
    told = [m for m in model_server.requests[-1]["messages"] if m["role"] == "tool"]
    assert "denied by policy" in told[0]["content"]


async def test_low_confidence_goes_to_review(
    handrail: HandrailClient, model_server: ScriptedModelServer
) -> None:
    unsure = ToolCallReply(
        "issue_refund",
        {"order_id": 1003, "amount": "10.00", "reason": "r", "rationale": "?", "confidence": 0.3},
    )
    task_id = await _start(handrail, model_server, unsure, answer())
    pending = await wait_for_pending(handrail, task_id)
    assert pending.reason == "confidence 0.30 is below 0.80"
    await handrail.review(task_id, {"reviewer": "alice", "step": 1, "verdict": "reject"})
    assert (await handrail.get_result(task_id)).status == "rejected"


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


async def test_reviewers_are_notified_by_webhook(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, webhook: str
) -> None:
    hooked = settings.model_copy(
        update={"review_webhook_url": webhook, "task_queue": settings.task_queue + "-hook"}
    )
    handrail = HandrailClient(client, hooked)
    async with running_worker(client, hooked):
        task_id = await _start(handrail, model_server, refund(1003, "80.00"), answer())
        await wait_for_pending(handrail, task_id)
        for _ in range(100):
            if _Hook.received:
                break
            await asyncio.sleep(0.05)
        await handrail.review(task_id, {"reviewer": "alice", "step": 1, "verdict": "reject"})
        await handrail.get_result(task_id)
    notice = _Hook.received[0]
    assert notice["task_id"] == task_id
    assert notice["pending"]["tool"] == "issue_refund"
    assert "awaits review by support" in notice["text"]
    assert notice["link"].endswith(f"/workflows/{task_id}")
