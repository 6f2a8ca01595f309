"""The helpdesk agent's tools, declared with Handrail's public API only.

- ``lookup_ticket`` reads: it runs whenever the policy allows it;
- ``close_ticket`` changes a ticket and is compensated by ``reopen_ticket``: a task that does not
  commit (escalated, rejected, failed, cancelled, out of budget) reopens what it closed;
- ``notify_requester`` cannot be unsent: Handrail defers it to the task's commit point, after the
  final answer, so a task that rolls back never sends it.

Each effect is stored with the call's idempotency key (``helpdesk.tickets``), so a call retried
after its effect committed takes effect once.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from handrail import ToolContext, ToolRefused, UndoContext, compensation, tool
from handrail.policy.text_types import PlainText
from handrail.tools import Compensation, Tool
from helpdesk.tickets import TicketError, TicketSystem


class TicketArgs(BaseModel):
    # Forbid extra keys: a model that invents an argument is told so instead of ignored.
    model_config = ConfigDict(extra="forbid")

    ticket_id: int = Field(gt=0, description="The ticket number.")


class CloseTicketArgs(TicketArgs):
    resolution: PlainText = Field(min_length=1, max_length=1000, description="What fixed it.")


class NotifyRequesterArgs(TicketArgs):
    message: PlainText = Field(min_length=1, max_length=5000)


def helpdesk_tools(tickets: TicketSystem) -> list[Tool]:
    """The three tools over ``tickets``."""

    @tool(read_only=True, summary="ticket {ticket_id}")
    async def lookup_ticket(args: TicketArgs, ctx: ToolContext) -> dict[str, Any]:
        """Look up a ticket by its number: title, requester and status."""
        ticket = await tickets.get(args.ticket_id)
        if ticket is None:
            raise ToolRefused(f"no ticket #{args.ticket_id}")
        return {"ticket_id": ticket.id, "title": ticket.title, "status": ticket.status}

    @tool(compensated_by="reopen_ticket", summary="close ticket {ticket_id}")
    async def close_ticket(args: CloseTicketArgs, ctx: ToolContext) -> dict[str, Any]:
        """Close a ticket as resolved, with the resolution."""
        try:
            closure = await tickets.close(args.ticket_id, args.resolution, key=ctx.idempotency_key)
        except TicketError as error:
            raise ToolRefused(str(error)) from None
        return {"ticket_id": closure.ticket_id, "status": "closed", "closure_id": closure.id}

    # The message is free text to a person: sensitive keeps it out of traces, logs and exports.
    @tool(irreversible=True, sensitive=("message",), summary="notify ticket {ticket_id}")
    async def notify_requester(args: NotifyRequesterArgs, ctx: ToolContext) -> dict[str, Any]:
        """Email the ticket's requester. Sent when the task commits: it cannot be unsent."""
        try:
            sent = await tickets.notify(args.ticket_id, args.message, key=ctx.idempotency_key)
        except TicketError as error:
            raise ToolRefused(str(error)) from None
        return {"ticket_id": args.ticket_id, "message_id": sent}

    return [lookup_ticket, close_ticket, notify_requester]


def helpdesk_compensations(tickets: TicketSystem) -> list[Compensation]:
    """The undo of ``close_ticket``."""

    @compensation(undoes="close_ticket")
    async def reopen_ticket(ctx: UndoContext) -> bool:
        """Reopen the ticket the call closed, if it closed one."""
        # By the key, not by ``ctx.recorded``: a close that committed but crashed before
        # Handrail's journal recorded it has no record, and must be undone all the same.
        return await tickets.reopen(ctx.idempotency_key)

    return [reopen_ticket]
