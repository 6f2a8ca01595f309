"""Review and rollback for the OpenAI Agents SDK agent: a large refund waits for a person (in
``pending``, the gateway's review list and the inbox, with Handrail's search attributes and
summaries on the host workflow) and runs once after approval; a rejected refund rolls back the
discount before it and stops the SDK's run; the SDK's own ``needs_approval`` is a Handrail
review; an action outside the task's scope is refused and the model told why."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from examples.openai_agents_store.tests.helpers import (
    call,
    discount,
    refund,
    rows,
    start,
    wait_for_pending,
)
from examples.openai_agents_store.worker import running_worker
from handrail import HandrailSettings
from handrail.client.core import HandrailClient
from handrail.http import create_app, running_server, token_hash
from handrail.http.auth import COOKIE_NAME
from handrail.testing.histories import keep_history
from handrail.testing.scripted_model import (
    Scenario,
    ScriptedModelServer,
    TextReply,
    messages_of,
)

ALICE_TOKEN = "hrt_test_alice_token"

# Replayed in CI by tests/governance/test_governed_replay.py.
SAVED_HISTORIES = Path(__file__).resolve().parents[3] / "tests" / "histories" / "governed"


@asynccontextmanager
async def gateway(client: Client, settings: HandrailSettings) -> AsyncIterator[httpx2.AsyncClient]:
    """The HTTP gateway (API and inbox) for the test's queue, alice a reviewer."""
    reviewers = settings.model_copy(update={"reviewer_tokens": {"alice": token_hash(ALICE_TOKEN)}})
    app = create_app(HandrailClient(client, reviewers), task_queue=settings.task_queue)
    async with running_server(app) as url, httpx2.AsyncClient(base_url=url, timeout=30) as http:
        yield http


async def test_a_large_refund_waits_for_a_person_then_runs_once(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
) -> None:
    script = Scenario([refund("80.00"), TextReply("Refunded 80.00 on order 1001.")])
    with model_server.routed(script) as marker:
        async with running_worker(client, settings), gateway(client, settings) as http:
            handle = await start(client, settings, f"{marker} The stove arrived broken.")
            pending = await wait_for_pending(handrail, handle.id)
            assert (pending.step, pending.tool) == (1, "issue_refund")
            assert rows(settings, "refunds") == []  # nothing ran before the approval
            listed = [t for t, _ in await handrail.pending_reviews(task_queue=settings.task_queue)]
            assert handle.id in listed
            api = await http.get("/reviews", headers={"Authorization": f"Bearer {ALICE_TOKEN}"})
            assert handle.id in [row["task_id"] for row in api.json()], api.text
            inbox = await http.get("/inbox", headers={"Cookie": f"{COOKIE_NAME}={ALICE_TOKEN}"})
            assert inbox.status_code == 200
            assert handle.id in inbox.text
            # What the Temporal UI shows: Handrail's search attributes and summaries.
            described = await handle.describe()
            found = described.typed_search_attributes
            assert found.get(SearchAttributeKey.for_bool("AwaitingReview")) is True
            assert found.get(SearchAttributeKey.for_keyword("ReviewTool")) == "issue_refund"
            assert (
                found.get(SearchAttributeKey.for_keyword("HandrailProfile"))
                == "openai_agents_store"
            )
            assert marker in (await described.static_summary() or "")

            await handrail.review(handle.id, {"reviewer": "alice", "step": 1, "verdict": "approve"})
            # The answer follows an action that changed the world and states no confidence.
            answer = await wait_for_pending(handrail, handle.id)
            assert answer.tool == "final_answer"
            await handrail.review(handle.id, {"reviewer": "alice", "step": 2, "verdict": "approve"})
            result = await handle.result()
            history = await handle.fetch_history()
            await keep_history(handle, SAVED_HISTORIES, "openai_agents_approved")
    assert result.status == "answered", result
    assert result.answer == "Refunded 80.00 on order 1001."
    assert len(rows(settings, "refunds")) == 1
    shown = [
        json.loads(event.user_metadata.summary.data)
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.user_metadata.HasField("summary")
    ]
    assert "issue_refund 80.00 on order 1001" in shown
    described = await handle.describe()
    assert (
        described.typed_search_attributes.get(SearchAttributeKey.for_keyword("HandrailStatus"))
        == "answered"
    )


async def test_a_rejected_refund_rolls_back_the_discount_and_stops_the_run(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
) -> None:
    script = Scenario([discount("5.00"), refund("80.00"), TextReply("never reached")])
    with model_server.routed(script) as marker:
        async with running_worker(client, settings):
            handle = await start(client, settings, f"{marker} Late and broken.")
            pending = await wait_for_pending(handrail, handle.id)
            assert pending.tool == "issue_refund"
            assert len(rows(settings, "discounts")) == 1
            await handrail.review(handle.id, {"reviewer": "alice", "step": 2, "verdict": "reject"})
            result = await handle.result()
        asked = [r for r in model_server.requests if marker in json.dumps(messages_of(r))]
    assert result.status == "rejected", result
    assert [(c.tool, c.status) for c in result.compensations] == [("apply_discount", "undone")]
    assert rows(settings, "refunds") == []
    assert len(asked) == 2  # the SDK's run stopped: the model was not asked again


async def test_the_sdks_own_approval_is_a_handrail_review(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
) -> None:
    script = Scenario([call("goodwill_code", order_id=1001), TextReply("Here is SORRY-1001.")])
    with model_server.routed(script) as marker:
        async with running_worker(client, settings):
            handle = await start(client, settings, f"{marker} Make it up to me.")
            pending = await wait_for_pending(handrail, handle.id)
            assert pending.tool == "goodwill_code"
            assert "needs_approval" in pending.reason
            await handrail.review(handle.id, {"reviewer": "alice", "step": 1, "verdict": "approve"})
            result = await handle.result()
    assert result.status == "answered", result
    code = result.steps[0]
    assert code.outcome is not None
    assert code.outcome.result == {"output": "SORRY-1001"}


async def test_an_action_outside_the_tasks_scope_is_refused_and_the_model_told(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
) -> None:
    script = Scenario([refund("10.00", order_id=1003), TextReply("I cannot refund that order.")])
    with model_server.routed(script) as marker:
        async with running_worker(client, settings):
            handle = await start(
                client, settings, f"{marker} Refund my order.", context={"order_id": 1001}
            )
            result = await handle.result()
    assert result.status == "answered", result
    refused = result.steps[0]
    assert refused.gate is not None
    assert refused.gate.action == "deny"
    assert rows(settings, "refunds") == []
    # The SDK handed the refusal back to its model as the tool's output.
    told = [
        m["content"]
        for r in model_server.requests
        if marker in json.dumps(messages_of(r))
        for m in messages_of(r)
        if m.get("role") == "tool"
    ]
    assert told, told
    assert "outside the task's scope" in told[-1], told
