"""What the model reads after a call of one of your tools (docs/extending.md, "Results and
refusals"): a result as its JSON object, a ``ToolRefused`` as ``{"error": <its message>}``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client

from handrail import ToolContext, ToolRefused, tool
from handrail.testing import FunctionModel, Scenario, agent_worker, call


class TicketArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: int = Field(gt=0)


@tool(read_only=True, summary="ticket {ticket_id}")
async def lookup_ticket(args: TicketArgs, ctx: ToolContext) -> dict[str, Any]:
    """Look up a ticket by its number."""
    if args.ticket_id != 7:
        raise ToolRefused(f"no ticket #{args.ticket_id}")
    return {"ticket_id": 7, "title": "VPN drops", "status": "open"}


async def test_a_result_and_a_refusal_as_the_model_reads_them(
    client: Client, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "desk.toml").write_text(
        'name = "desk"\nsystem_prompt = "You run the desk."\ntools = ["lookup_ticket"]\n'
    )
    model = FunctionModel(
        Scenario(
            [
                call("lookup_ticket", ticket_id=8),
                call("lookup_ticket", ticket_id=7),
                call("final_answer", answer="#7 is open"),
            ]
        )
    )
    async with agent_worker(
        client, tmp_path / "data", tools=[lookup_ticket], model=model, profiles=[profiles]
    ) as handrail:
        handle = await handrail.start_task({"goal": "Ticket 8 or 7?", "profile": "desk"})
        result = await handrail.get_result(handle.id)

    assert result.status == "answered"
    read = [m["content"] for m in model.requests[-1]["messages"] if m["role"] == "tool"]
    assert read == [
        '{"error": "no ticket #8"}',
        json.dumps({"status": "open", "ticket_id": 7, "title": "VPN drops"}),
    ]
