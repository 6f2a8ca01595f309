"""MCP tool sources against real MCP servers (the SDK's ``MCPServer``), over stdio and over
streamable HTTP: tools listed and called as activities, governed like any other tool — a rule
makes one read-only or compensated, a tool with no rule goes to review — with the server's token
from settings and never in history."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from handrail import (
    HandrailPlugin,
    HandrailSettings,
    UndoContext,
    compensation,
)
from handrail.contracts import McpServer, ToolCall
from handrail.errors import ConfigurationError
from handrail.mcp.connection import call_tool
from handrail.mcp.source import McpTools, _bounded
from handrail.storage.journal import EffectJournal
from handrail.testing import (
    FunctionModel,
    Scenario,
    ToolCallReply,
    agent_worker,
    call,
    settings_for_test,
)
from tests.mcp_servers import tickets
from tests.review_helpers import WHY, wait_for_pending

TOKEN = "mcp-secret-" + "f00dfeed"
SERVER_SCRIPT = Path(tickets.__file__)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _RequireBearer:
    """ASGI middleware: the test's HTTP server answers only with the token from settings."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"authorization", b"").decode()
            self.seen.append(header)
            if header != f"Bearer {TOKEN}":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"no"})
                return
        await self.app(scope, receive, send)


@pytest.fixture
def tickets_db(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.db"
    tickets.create_tickets(path)  # also sets TICKETS_DB for the in-process HTTP server
    return path


@pytest.fixture
def http_server(tickets_db: Path) -> Iterator[tuple[str, _RequireBearer]]:
    guarded = _RequireBearer(tickets.server.streamable_http_app())
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(guarded, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp", guarded
    server.should_exit = True
    thread.join(timeout=10)


def _stdio(tickets_db: Path) -> McpServer:
    return McpServer(
        name="tickets",
        command=[sys.executable, str(SERVER_SCRIPT)],
        env={"TICKETS_DB": str(tickets_db)},
    )


def _profile(folder: Path, server: McpServer) -> Path:
    folder.mkdir(exist_ok=True)
    env = ", ".join(f"{key} = {json.dumps(value)}" for key, value in server.env.items())
    where = (
        f"url = {json.dumps(server.url)}"
        if server.url
        else f"command = {json.dumps(server.command)}\nenv = {{ {env} }}"
    )
    (folder / "helpdesk.toml").write_text(
        f"""
name = "helpdesk"
model = "m"
system_prompt = "You run the IT helpdesk."
tools = []

[[mcp_servers]]
name = "tickets"
{where}

[rules.lookup_ticket]
effect = "read_only"
autonomy = "autonomous"

[rules.close_ticket]
effect = "compensated"
compensation = "reopen_ticket"
autonomy = "supervised"
min_confidence = 0.5

[[review_tiers]]
name = "it"
reviewers = ["alice"]
deadline = "PT1H"
"""
    )
    return folder


def _reopen(server: McpServer) -> Any:
    @compensation(undoes="close_ticket")
    async def reopen_ticket(ctx: UndoContext) -> bool:
        """Reopen the ticket the close closed (its id is in the recorded result)."""
        if ctx.recorded is None:
            return False
        ticket = ctx.recorded["ticket_id"]
        await call_tool(server, SecretStr(TOKEN), "reopen_ticket", {"ticket_id": ticket}, "")
        return True

    return reopen_ticket


def _worker(client: Client, tmp_path: Path, server: McpServer, model: FunctionModel) -> Any:
    """A worker with the helpdesk profile over ``server`` and its token in settings."""
    settings = settings_for_test(client, tmp_path / "data", mcp_tokens={"tickets": TOKEN})
    return agent_worker(
        client,
        tmp_path / "data",
        tools=[],
        compensations=[_reopen(server)],
        model=model,
        profiles=[_profile(tmp_path / "profiles", server)],
        settings=settings,
    )


def _status(path: Path, ticket: int) -> str | None:
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT status FROM tickets WHERE id = ?", (ticket,)).fetchone()
    return row[0] if row else None


def _history_text(events: Any) -> str:
    return events.to_json()  # type: ignore[no-any-return]


async def test_stdio_tools_run_governed_and_roll_back(
    client: Client, tmp_path: Path, tickets_db: Path
) -> None:
    server = _stdio(tickets_db)
    model = FunctionModel(
        Scenario(
            [
                ToolCallReply("lookup_ticket", {"ticket_id": 7, **WHY}),
                ToolCallReply("close_ticket", {"ticket_id": 7, **WHY}),
                ToolCallReply("escalate", {"reason": "the user wants a person", **WHY}),
            ]
        )
    )
    async with _worker(client, tmp_path, server, model) as handrail:
        handle = await handrail.start_task({"goal": "Close ticket 7", "profile": "helpdesk"})
        result = await handrail.get_result(handle.id)
        history = _history_text(await handle.fetch_history())

    assert result.status == "escalated"
    lookup, close = result.steps[0], result.steps[1]
    assert lookup.outcome is not None
    assert lookup.outcome.result["title"] == "VPN drops every hour"  # read over stdio
    assert close.gate is not None
    assert close.gate.action == "auto"  # its rule: compensated, supervised, confident enough
    assert [c.status for c in result.compensations] == ["undone"]
    assert _status(tickets_db, 7) == "open"  # closed, then reopened by the compensation
    offered = {t["function"]["name"] for t in model.requests[0]["tools"]}
    assert {"lookup_ticket", "close_ticket", "delete_ticket"} <= offered
    assert TOKEN not in history
    assert tickets.token_seen(tickets_db) == tickets.fingerprint(TOKEN)  # MCP_TOKEN, from settings


async def test_http_tool_without_a_rule_goes_to_review(
    client: Client,
    tmp_path: Path,
    tickets_db: Path,
    http_server: tuple[str, _RequireBearer],
) -> None:
    url, guard = http_server
    server = McpServer(name="tickets", url=url)
    model = FunctionModel(
        Scenario(
            [
                ToolCallReply("delete_ticket", {"ticket_id": 8, **WHY}),
                ToolCallReply("final_answer", {"answer": "Deleted.", **WHY}),
            ]
        )
    )
    async with _worker(client, tmp_path, server, model) as handrail:
        handle = await handrail.start_task({"goal": "Delete ticket 8", "profile": "helpdesk"})
        pending = await wait_for_pending(handrail, handle.id)
        assert pending.tool == "delete_ticket"
        assert pending.reason == "delete_ticket cannot be undone"  # no rule: irreversible
        assert _status(tickets_db, 8) == "open"  # nothing ran unreviewed
        await handrail.review(handle.id, {"reviewer": "alice", "step": 1, "verdict": "reject"})
        result = await handrail.get_result(handle.id)
        history = _history_text(await handle.fetch_history())

    assert result.status == "rejected"
    assert _status(tickets_db, 8) == "open"
    assert guard.seen  # the server was reached, with the token from settings
    assert all(header == f"Bearer {TOKEN}" for header in guard.seen)
    assert TOKEN not in history


async def test_results_are_bounded(tmp_path: Path, tickets_db: Path) -> None:
    server = _stdio(tickets_db)
    tools = McpTools(EffectJournal(tmp_path / "state.db"), {"tickets": SecretStr(TOKEN)})
    names = {spec.name for spec in await tools.specs(server)}
    assert "dump_log" in names
    result = await call_tool(server, SecretStr(TOKEN), "dump_log", {}, "k")
    assert len(result.text) > 64 * 1024  # what the server sent
    bounded = _bounded(result.text, 64 * 1024)
    assert len(bounded.encode()) < 64 * 1024 + 200
    assert "truncated by Handrail" in bounded


async def test_a_call_records_its_real_duration(tmp_path: Path, tickets_db: Path) -> None:
    # A stdio call starts the server's process: tens of milliseconds at the very least, most of
    # what the activity does. The step's latency is that call's, not 0.
    server = _stdio(tickets_db)
    tools = McpTools(EffectJournal(tmp_path / "state.db"), {"tickets": SecretStr(TOKEN)})
    request = ToolCall(
        task_id="t",
        step=1,
        idempotency_key="t/r/1",
        arguments={"ticket_id": 7},
        tool="lookup_ticket",
    )
    started = time.monotonic()
    outcome = await ActivityEnvironment().run(tools.call_activity(server), request)
    elapsed_ms = (time.monotonic() - started) * 1000

    assert outcome.ok
    assert outcome.result["title"] == "VPN drops every hour"
    assert 0.5 * elapsed_ms <= outcome.latency_ms <= elapsed_ms
    assert outcome.attempt == 1


@pytest.mark.parametrize("with_rule", [True, False])
async def test_an_mcp_tool_listed_in_tools_is_refused_saying_what_to_do(
    tmp_path: Path, tickets_db: Path, with_rule: bool
) -> None:
    folder = _profile(tmp_path / "profiles", _stdio(tickets_db))
    profile = folder / "helpdesk.toml"
    text = profile.read_text().replace("tools = []", 'tools = ["lookup_ticket"]')
    if not with_rule:
        text = text.replace(
            '[rules.lookup_ticket]\neffect = "read_only"\n', "[rules.lookup_ticket]\n"
        )
    profile.write_text(text)
    settings = HandrailSettings(_env_file=None, data_dir=tmp_path / "data")
    with pytest.raises(ConfigurationError) as refused:
        HandrailPlugin(
            settings, tools=[], model=FunctionModel(Scenario([call("x")])), profiles=[folder]
        )
    message = str(refused.value)
    assert "'lookup_ticket' is listed in `tools`" in message
    assert "take 'lookup_ticket' out of `tools`" in message
    assert "`effect` and `compensation` are for MCP tools" not in message
