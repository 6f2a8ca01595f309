"""The profile's review ladder: a close the model is unsure of waits for the service desk, and
only its reviewers (or a higher tier's) may decide."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from helpdesk import PROFILE, PROFILES
from helpdesk.tickets import TicketSystem
from helpdesk.tools import helpdesk_compensations, helpdesk_tools
from temporalio.client import Client

from handrail import HandrailClient
from handrail.contracts import Trace
from handrail.errors import ReviewRefusedError
from handrail.testing import FunctionModel, Scenario, agent_worker, call


def approve(reviewer: str) -> dict[str, object]:
    return {"reviewer": reviewer, "step": 1, "verdict": "approve"}


async def wait_for_review(handrail: HandrailClient, task_id: str) -> Trace:
    for _ in range(200):
        trace = await handrail.get_trace(task_id)
        if trace.pending_review is not None:
            return trace
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_id} never asked for review")


async def test_an_unsure_close_waits_for_the_service_desk(
    handrail_client: Client, tmp_path: Path
) -> None:
    tickets = TicketSystem(tmp_path / "tickets.db")
    await tickets.add("Printer on floor 3 jams", "ben@example.com")
    replies = [
        call("close_ticket", ticket_id=1, resolution="probably fixed", confidence=0.5),
        call("final_answer", answer="Closed ticket 1."),
    ]
    async with agent_worker(
        handrail_client,
        tmp_path,
        tools=helpdesk_tools(tickets),
        compensations=helpdesk_compensations(tickets),
        model=FunctionModel(Scenario(replies)),
        profiles=[PROFILES],
    ) as handrail:
        handle = await handrail.start_task({"goal": "Close ticket 1", "profile": PROFILE})
        trace = await wait_for_review(handrail, handle.id)
        pending = trace.pending_review
        assert pending is not None
        assert (pending.tier, pending.tool) == ("service-desk", "close_ticket")
        ticket = await tickets.get(1)
        assert ticket is not None
        assert ticket.status == "open"  # nothing runs before a person decides

        with pytest.raises(ReviewRefusedError):
            await handrail.review(
                handle.id, {"reviewer": "mallory", "step": 1, "verdict": "approve"}
            )
        await handrail.review(handle.id, {"reviewer": "eli", "step": 1, "verdict": "approve"})
        result = await handrail.get_result(handle.id)

    assert result.status == "answered"
    review = result.steps[0].review
    assert review is not None
    assert review.reviewer == "eli"
    ticket = await tickets.get(1)
    assert ticket is not None
    assert ticket.status == "closed"
