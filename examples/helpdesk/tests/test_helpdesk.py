"""The helpdesk agent on a real Temporal dev server, over its real SQLite ticket system, with a
scripted model (``FunctionModel``): what a team's own CI would run.

Every check reads real state: the tickets database, the task's trace, and Handrail's effect
journal (the ``effect_journal`` table in the settings' state database).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpdesk import PROFILE, PROFILES
from helpdesk.scripted import answer_from_lookup
from helpdesk.tickets import Closure, TicketSystem
from helpdesk.tools import helpdesk_compensations, helpdesk_tools
from temporalio.client import Client

from handrail import HandrailSettings, TaskResult
from handrail.contracts import Trace
from handrail.testing import (
    FunctionModel,
    Scenario,
    ToolCallReply,
    agent_worker,
    call,
    settings_for_test,
)

Entry = ToolCallReply | Callable[[dict[str, Any]], ToolCallReply]


@dataclass(frozen=True)
class Run:
    result: TaskResult
    trace: Trace
    settings: HandrailSettings

    def journal(self) -> list[sqlite3.Row]:
        """Handrail's journal rows of this task (none if the journal was never written: Handrail
        creates its table on first use)."""
        with sqlite3.connect(self.settings.state_db_path) as connection:
            connection.row_factory = sqlite3.Row
            if not connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'effect_journal'"
            ).fetchone():
                return []
            return connection.execute(
                "SELECT * FROM effect_journal WHERE task_id = ?", (self.result.task_id,)
            ).fetchall()


async def run_task(
    client: Client, tmp_path: Path, tickets: TicketSystem, replies: Sequence[Entry]
) -> Run:
    """One task of the helpdesk profile on a fresh worker and task queue."""
    settings = settings_for_test(client, tmp_path / "handrail")
    async with agent_worker(
        client,
        tmp_path,
        tools=helpdesk_tools(tickets),
        compensations=helpdesk_compensations(tickets),
        model=FunctionModel(Scenario(replies)),
        profiles=[PROFILES],
        settings=settings,
    ) as handrail:
        handle = await handrail.start_task({"goal": "Handle ticket 1", "profile": PROFILE})
        result = await handrail.get_result(handle.id)
        trace = await handrail.get_trace(handle.id)
    return Run(result, trace, settings)


def rows(tickets: TicketSystem, sql: str, *params: object) -> list[sqlite3.Row]:
    with sqlite3.connect(tickets.path) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute(sql, params).fetchall()


def status_of(tickets: TicketSystem, ticket_id: int) -> str:
    return str(rows(tickets, "SELECT status FROM tickets WHERE id = ?", ticket_id)[0]["status"])


@pytest.fixture
async def tickets(tmp_path: Path) -> TicketSystem:
    system = TicketSystem(tmp_path / "tickets.db")
    await system.add("VPN drops every hour", "ana@example.com")
    await system.add("Printer on floor 3 jams", "ben@example.com")
    return system


async def test_a_read_only_tool_result_reaches_the_answer(
    handrail_client: Client, tmp_path: Path, tickets: TicketSystem
) -> None:
    run = await run_task(
        handrail_client, tmp_path, tickets, [call("lookup_ticket", ticket_id=1), answer_from_lookup]
    )

    assert run.result.status == "answered"
    assert run.result.answer == "#1 VPN drops every hour: open"
    lookup = run.trace.steps[0]
    assert lookup.decision.tool == "lookup_ticket"
    assert lookup.outcome is not None
    assert lookup.outcome.ok
    assert run.journal() == []  # a read has no effect to journal


async def test_b_a_close_is_rolled_back_on_escalation(
    handrail_client: Client, tmp_path: Path, tickets: TicketSystem
) -> None:
    run = await run_task(
        handrail_client,
        tmp_path,
        tickets,
        [
            call("close_ticket", ticket_id=2, resolution="cleared the jam"),
            call("escalate", reason="the printer jams again, needs a technician"),
        ],
    )

    assert run.result.status == "escalated"
    close = run.trace.steps[0].outcome
    assert close is not None
    assert close.ok
    assert status_of(tickets, 2) == "open"
    assert rows(tickets, "SELECT * FROM closures") == []
    [undo] = run.trace.compensations
    assert (undo.tool, undo.compensation, undo.status) == (
        "close_ticket",
        "reopen_ticket",
        "undone",
    )
    [entry] = run.journal()
    assert entry["tool"] == "close_ticket"
    assert entry["applied_at"] is not None
    assert entry["compensation"] == "reopen_ticket"


async def test_c_the_requester_is_notified_only_at_commit(
    handrail_client: Client, tmp_path: Path, tickets: TicketSystem
) -> None:
    outbox_at_answer: list[int] = []

    def answer_and_look_at_the_outbox(request: dict[str, Any]) -> ToolCallReply:
        outbox_at_answer.append(len(rows(tickets, "SELECT * FROM outbox")))
        return call("final_answer", answer="Closed ticket 1 and told Ana.")

    run = await run_task(
        handrail_client,
        tmp_path,
        tickets,
        [
            call("close_ticket", ticket_id=1, resolution="new VPN profile"),
            call("notify_requester", ticket_id=1, message="Your VPN is fixed."),
            answer_and_look_at_the_outbox,
        ],
    )

    assert run.result.status == "answered"
    assert outbox_at_answer == [0]  # nothing sent while the task could still roll back
    [sent] = rows(tickets, "SELECT * FROM outbox")
    assert (sent["to_address"], sent["message"]) == ("ana@example.com", "Your VPN is fixed.")
    notify = run.trace.steps[1]
    assert notify.deferred
    assert notify.outcome is not None
    assert notify.outcome.ok
    assert notify.decision.arguments["message"] == "[redacted]"  # sensitive in the trace


async def test_c_a_task_that_rolls_back_never_notifies(
    handrail_client: Client, tmp_path: Path, tickets: TicketSystem
) -> None:
    run = await run_task(
        handrail_client,
        tmp_path,
        tickets,
        [
            call("close_ticket", ticket_id=1, resolution="new VPN profile"),
            call("notify_requester", ticket_id=1, message="Your VPN is fixed."),
            call("escalate", reason="the user reports it still drops"),
        ],
    )

    assert run.result.status == "escalated"
    assert rows(tickets, "SELECT * FROM outbox") == []
    assert status_of(tickets, 1) == "open"
    notify = run.trace.steps[1]
    assert notify.outcome is None
    assert "never ran" in notify.note
    assert [entry["tool"] for entry in run.journal()] == ["close_ticket"]  # no notify row


class LosesFirstReply(TicketSystem):
    """A ticket system whose first close commits and then fails, as when the network drops the
    reply or the worker dies right after the write. The user's fault switch for this test."""

    lost = 0

    async def close(self, ticket_id: int, resolution: str, *, key: str) -> Closure:
        closure = await super().close(ticket_id, resolution, key=key)
        if self.lost == 0:
            self.lost += 1
            raise ConnectionError("the reply was lost after the close committed")
        return closure


async def test_d_a_close_whose_reply_is_lost_takes_effect_once(
    handrail_client: Client, tmp_path: Path
) -> None:
    tickets = LosesFirstReply(tmp_path / "tickets.db")
    await tickets.add("VPN drops every hour", "ana@example.com")

    run = await run_task(
        handrail_client,
        tmp_path,
        tickets,
        [
            call("close_ticket", ticket_id=1, resolution="new VPN profile"),
            call("final_answer", answer="Closed."),
        ],
    )

    assert run.result.status == "answered"
    assert tickets.lost == 1
    close = run.trace.steps[0].outcome
    assert close is not None
    assert close.ok
    assert close.attempt == 2
    assert status_of(tickets, 1) == "closed"
    [closure] = rows(tickets, "SELECT * FROM closures WHERE ticket_id = 1")
    assert closure["idempotency_key"].startswith(run.result.task_id + "/")
    [entry] = run.journal()
    assert (entry["tool"], entry["idempotency_key"]) == ("close_ticket", closure["idempotency_key"])
    assert entry["compensated_at"] is None
