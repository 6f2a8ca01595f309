"""What a person decides about the pydantic-ai agent's actions: a large refund waits, in the
pending list and the inbox, and runs once approved; a rejected one undoes what came before it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx2
from temporalio.client import Client, WorkflowHandle

from examples.pydantic_ai_store.tests import asking_agent
from examples.pydantic_ai_store.tests.helpers import (
    WHY,
    approve_answer,
    discount,
    refund,
    rows,
    start,
    wait_for_pending,
)
from examples.pydantic_ai_store.worker import PROFILE, PROFILES, running_worker
from examples.store.tests.helpers import activity_attempts
from handrail import search_attributes
from handrail.client.core import HandrailClient
from handrail.contracts import AgentTask, TaskResult
from handrail.http import create_app, token_hash
from handrail.settings import HandrailSettings
from handrail.testing.histories import keep_history
from handrail.testing.scripted_model import (
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
    messages_of,
)

ALICE = "hrt_test_alice_token"


def _tell_what_the_tool_said(request: dict[str, Any]) -> TextReply:
    """The model answers with the last tool result it was sent (what it was told)."""
    return TextReply(str(messages_of(request)[-1].get("content")))


async def _activity_summaries(client: Client, handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The summaries the Temporal UI shows beside the workflow's activities."""
    found = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes") and event.HasField(
            "user_metadata"
        ):
            [summary] = await client.data_converter.decode([event.user_metadata.summary], [str])
            found.append(summary)
    return found


def _inbox(handrail: HandrailClient, settings: HandrailSettings) -> httpx2.AsyncClient:
    """The gateway (handrail/http) in process, as alice, a reviewer of tier "support"."""
    gateway = HandrailClient(
        handrail.temporal,
        settings.model_copy(update={"reviewer_tokens": {"alice": token_hash(ALICE)}}),
    )
    app = create_app(gateway, task_queue=settings.task_queue)
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url="http://inbox",
        headers={"Authorization": f"Bearer {ALICE}"},
    )


# Replayed in CI by tests/governance/test_governed_replay.py.
SAVED_HISTORIES = Path(__file__).resolve().parents[3] / "tests" / "histories" / "governed"


async def test_a_large_refund_waits_for_a_person_then_runs_once(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
) -> None:
    model_server.brain = Scenario([refund(1001, "80.00"), TextReply("Refunded 80.00.")])
    async with running_worker(client, settings), _inbox(handrail, settings) as inbox:
        handle = await start(client, settings)
        pending = await wait_for_pending(handrail, handle.id)
        assert (pending.step, pending.tool) == (1, "issue_refund")
        assert rows(settings, "refunds") == []  # nothing runs before a person decides
        listed = [
            task for task, _ in await handrail.pending_reviews(task_queue=settings.task_queue)
        ]
        assert handle.id in listed  # the visibility query finds the host workflow
        described = (await handle.describe()).typed_search_attributes
        assert described.get(search_attributes.PROFILE) == "pydantic_ai_store"
        assert described.get(search_attributes.STATUS) == "awaiting_review"
        assert described.get(search_attributes.REVIEW_TOOL) == "issue_refund"
        assert described.get(search_attributes.AWAITING_REVIEW) is True
        shown = (await inbox.get("/reviews")).json()
        assert [(row["task_id"], row["tool"]) for row in shown] == [(handle.id, "issue_refund")]
        decided = await inbox.post(f"/reviews/{handle.id}", json={"step": 1, "verdict": "approve"})
        assert decided.status_code == 200, decided.text
        await approve_answer(handrail, handle.id)
        result = await handle.result()
        await keep_history(handle, SAVED_HISTORIES, "pydantic_ai_approved")
    assert result.status == "answered", result
    assert result.steps[0].review is not None
    assert result.steps[0].review.reviewer == "alice"
    assert len(rows(settings, "refunds")) == 1
    assert await activity_attempts(handle, "issue_refund") == [1]
    summaries = await _activity_summaries(client, handle)
    assert "issue_refund 80.00 on order 1001" in summaries  # what the Temporal UI shows


async def test_a_rejected_refund_rolls_back_the_discount_before_it(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
) -> None:
    model_server.brain = Scenario(
        [discount(1001, "5.00"), refund(1001, "80.00"), TextReply("Done.")]
    )
    async with running_worker(client, settings):
        handle = await start(client, settings)
        pending = await wait_for_pending(handrail, handle.id)
        assert (pending.step, pending.tool) == (2, "issue_refund")
        assert len(rows(settings, "discounts")) == 1  # the discount ran on its own
        await handrail.review(handle.id, {"reviewer": "alice", "step": 2, "verdict": "reject"})
        result = await handle.result()
    assert result.status == "rejected", result
    assert [(c.tool, c.status) for c in result.compensations] == [("apply_discount", "undone")]
    assert rows(settings, "discounts") == []
    assert rows(settings, "refunds") == []


async def test_pydantic_ais_approval_becomes_handrails_review(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
) -> None:
    # customer_contact has requires_approval=True: pydantic-ai alone would end the run with
    # DeferredToolRequests; under Handrail the call waits for a person inside the workflow.
    contact = ToolCallReply("customer_contact", {"order_id": 1001, **WHY})
    model_server.brain = Scenario([contact, _tell_what_the_tool_said])
    async with running_worker(client, settings):
        handle = await start(client, settings)
        pending = await wait_for_pending(handrail, handle.id)
        assert (pending.step, pending.tool) == (1, "customer_contact")
        assert "requires approval" in pending.reason
        await handrail.review(handle.id, {"reviewer": "alice", "step": 1, "verdict": "approve"})
        result = await handle.result()
    assert result.status == "answered", result
    assert result.answer is not None
    assert "@" in result.answer  # the tool ran, approved, and the model read its answer
    assert result.steps[0].outcome is not None
    assert result.steps[0].outcome.ok


async def test_a_tool_that_raises_approval_required_waits_for_a_person_then_runs_approved(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    # The store agent's profile, letting this agent's tool run too.
    text = (PROFILES / f"{PROFILE}.toml").read_text() + asking_agent.RULE
    listed = '"order_status", "customer_contact"'
    assert listed in text
    (folder / f"{PROFILE}.toml").write_text(
        text.replace(listed, f'{listed}, "{asking_agent.TOOL}"')
    )
    settings = settings.model_copy(update={"profiles_dir": folder})
    wipe = ToolCallReply(asking_agent.TOOL, {"region": "EU", **WHY})
    model_server.brain = Scenario([wipe, _tell_what_the_tool_said])
    async with running_worker(client, settings, workflows=[asking_agent.AskingAgent]):
        handle = await client.start_workflow(
            asking_agent.WORKFLOW,
            AgentTask(goal="Clear the EU cache", profile=PROFILE),
            id=f"asking-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
            result_type=TaskResult,
        )
        pending = await wait_for_pending(handrail, handle.id)
        # The first proposal ran as far as the tool's own check and was not run; the second
        # is the same call, for a person.
        assert (pending.step, pending.tool) == (2, asking_agent.TOOL)
        assert "ApprovalRequired" in pending.reason
        await handrail.review(handle.id, {"reviewer": "alice", "step": 2, "verdict": "approve"})
        result = await handle.result()
    assert result.status == "answered", result
    assert result.answer == "cache of EU cleared"
    first, second, _ = result.steps
    assert first.outcome is not None
    assert not first.outcome.ok
    assert second.outcome is not None
    assert second.outcome.ok
