"""The smallest test of the agent: the one ``docs/extending.md`` quotes."""

from pathlib import Path

from helpdesk import PROFILE, PROFILES
from helpdesk.tickets import Ticket, TicketSystem
from helpdesk.tools import helpdesk_compensations, helpdesk_tools
from temporalio.client import Client

from handrail.testing import FunctionModel, Scenario, agent_worker, call


async def test_a_closed_ticket_is_reopened_when_the_task_escalates(
    handrail_client: Client, tmp_path: Path
) -> None:
    tickets = TicketSystem(tmp_path / "tickets.db")
    ticket_id = await tickets.add("Printer on floor 3 jams", "ben@example.com")
    replies = [
        call("close_ticket", ticket_id=ticket_id, resolution="cleared the jam"),
        call("escalate", reason="it jams again: needs a technician"),
    ]
    async with agent_worker(
        handrail_client,
        tmp_path,
        tools=helpdesk_tools(tickets),
        compensations=helpdesk_compensations(tickets),
        model=FunctionModel(Scenario(replies)),
        profiles=[PROFILES],
    ) as handrail:
        handle = await handrail.start_task({"goal": "The printer works", "profile": PROFILE})
        result = await handrail.get_result(handle.id)

    assert result.status == "escalated"
    assert [undo.status for undo in result.compensations] == ["undone"]
    reopened = Ticket(ticket_id, "Printer on floor 3 jams", "ben@example.com", "open")
    assert await tickets.get(ticket_id) == reopened
