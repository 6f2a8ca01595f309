"""``HandrailPlugin`` at start: a profile that names what is not registered stops the worker
before it polls, naming the missing tool or compensation; and the plugin composes with a
user's own data converter, whose payload codec then encodes everything Handrail stores in
history."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from handrail import HandrailClient, ToolContext, UndoContext, compensation, tool
from handrail.errors import ConfigurationError
from handrail.plugin import HandrailPlugin
from handrail.testing import FunctionModel, Scenario, ToolCallReply, agent_worker, settings_for_test
from handrail.tools import Tool, ToolSpec

WHY = {"rationale": "the goal says so", "confidence": 0.9}


class TicketArgs(BaseModel):
    ticket_id: int


@tool(read_only=True)
async def lookup_ticket(args: TicketArgs, ctx: ToolContext) -> dict[str, Any]:
    """Look a ticket up."""
    return {"ticket_id": args.ticket_id, "title": "VPN drops every hour"}


@tool(compensated_by="reopen_ticket")
async def close_ticket(args: TicketArgs, ctx: ToolContext) -> dict[str, Any]:
    """Close a ticket."""
    return {"ticket_id": args.ticket_id, "status": "closed"}


@compensation(undoes=close_ticket)
async def reopen_ticket(ctx: UndoContext) -> bool:
    """Reopen it."""
    return True


def profile_folder(tmp_path: Path, tools: Sequence[str]) -> Path:
    """A real profile file naming ``tools``."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    listed = ", ".join(f'"{name}"' for name in tools)
    (folder / "desk.toml").write_text(
        f'name = "desk"\nsystem_prompt = "You run the IT desk."\ntools = [{listed}]\n'
    )
    return folder


MODEL = FunctionModel(Scenario([ToolCallReply("final_answer", {"answer": "ok", **WHY})]))


async def _refused_start(
    client: Client, tmp_path: Path, folder: Path, tools: list[Tool | ToolSpec]
) -> str:
    """Build a worker with ``tools`` over ``folder``'s profiles; it must refuse to start,
    before it touches any state. Its message."""
    settings = settings_for_test(client, tmp_path / "data")
    with pytest.raises(ConfigurationError) as stopped:
        async with agent_worker(
            client, tmp_path, tools=tools, model=MODEL, profiles=[folder], settings=settings
        ):
            pytest.fail("the worker started")
    assert not settings.state_db_path.exists()  # stopped before touching any state
    return str(stopped.value)


async def test_a_profile_naming_an_unregistered_tool_stops_the_worker(
    client: Client, tmp_path: Path
) -> None:
    folder = profile_folder(tmp_path, ["lookup_ticket", "reset_password"])
    message = await _refused_start(client, tmp_path, folder, [lookup_ticket])
    assert "profile 'desk' names tool 'reset_password', which is not registered" in message
    assert "lookup_ticket" not in message  # only what is missing is named


@pytest.mark.parametrize(
    "declared",
    [pytest.param(close_ticket, id="declared tool"), pytest.param(close_ticket.spec, id="spec")],
)
async def test_a_tool_whose_compensation_is_not_registered_stops_the_worker(
    client: Client, tmp_path: Path, declared: Tool | ToolSpec
) -> None:
    # A declared tool is checked by the registry; a bare spec (an MCP server's tool) by the
    # profile check. Either way the worker must not start to fail at rollback instead.
    folder = profile_folder(tmp_path, ["close_ticket"])
    message = await _refused_start(client, tmp_path, folder, [declared])
    assert "'close_ticket' is compensated by 'reopen_ticket', which is not registered" in message


async def test_a_profile_rule_naming_an_unregistered_compensation_stops_the_worker(
    client: Client, tmp_path: Path
) -> None:
    # An MCP tool's compensation is named by the profile itself (its rule), not by a declared
    # tool: the check must read the profile. The server is never started: the worker stops
    # before it lists any tool.
    folder = profile_folder(tmp_path, [])
    server = tmp_path / "never-started.py"
    profile = folder / "desk.toml"
    profile.write_text(
        profile.read_text()
        + f'[[mcp_servers]]\nname = "tickets"\ncommand = ["{sys.executable}", "{server}"]\n\n'
        + '[rules.close_ticket]\neffect = "compensated"\ncompensation = "reopen_remote"\n'
    )
    message = await _refused_start(client, tmp_path, folder, [lookup_ticket])
    assert (
        "profile 'desk': rules.close_ticket names compensation 'reopen_remote', which is not "
        "registered" in message
    )


async def test_a_scope_binding_an_argument_the_tool_does_not_take_stops_the_worker(
    client: Client, tmp_path: Path
) -> None:
    folder = profile_folder(tmp_path, ["lookup_ticket"])
    profile = folder / "desk.toml"
    profile.write_text(
        profile.read_text() + '[rules.lookup_ticket]\nscope = { ticket = "ticket_id" }\n'
    )
    message = await _refused_start(client, tmp_path, folder, [lookup_ticket])
    assert (
        "profile 'desk': rules.lookup_ticket.scope binds 'ticket', which lookup_ticket" in message
    )


class ZlibCodec(PayloadCodec):
    """A user's own codec (compression here; encryption has the same shape)."""

    ENCODING = b"binary/zlib"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(metadata={"encoding": self.ENCODING}, data=zlib.compress(p.SerializeToString()))
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload.FromString(zlib.decompress(p.data))
            if p.metadata.get("encoding") == self.ENCODING
            else p
            for p in payloads
        ]


def _stored_payloads(events: Sequence[Any]) -> dict[str, list[Payload]]:
    """The payloads of the task's input, each activity's input and result, and its result."""
    found: dict[str, list[Payload]] = {"input": [], "activity": [], "result": []}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            found["input"] += event.workflow_execution_started_event_attributes.input.payloads
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found["activity"] += event.activity_task_scheduled_event_attributes.input.payloads
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            found["activity"] += event.activity_task_completed_event_attributes.result.payloads
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            found["result"] += event.workflow_execution_completed_event_attributes.result.payloads
    return found


async def test_the_plugin_composes_with_a_users_payload_codec(
    handrail_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    folder = profile_folder(tmp_path, ["lookup_ticket"])
    goal = "What is ticket 7 about? (marker 5f1c)"
    model = FunctionModel(
        Scenario(
            [
                ToolCallReply("lookup_ticket", {"ticket_id": 7, **WHY}),
                ToolCallReply("final_answer", {"answer": "VPN drops every hour", **WHY}),
            ]
        )
    )
    settings = settings_for_test(handrail_env.client, tmp_path / "data")
    plugin = HandrailPlugin(settings, tools=[lookup_ticket], model=model, profiles=[folder])
    client = await Client.connect(
        settings.temporal_address,
        data_converter=DataConverter(payload_codec=ZlibCodec()),
        plugins=[plugin],
    )
    # The user's codec is kept, and Handrail's contracts get pydantic payloads.
    assert isinstance(client.data_converter.payload_codec, ZlibCodec)
    assert client.data_converter.payload_converter_class is PydanticPayloadConverter

    async with Worker(client, task_queue=settings.task_queue):  # inherits the plugin
        handrail = HandrailClient(client, settings, profiles=plugin.catalog)
        handle = await handrail.start_task({"goal": goal, "profile": "desk"})
        result = await handrail.get_result(handle.id)
    assert result.status == "answered"
    assert result.answer == "VPN drops every hour"
    assert result.steps[0].outcome is not None
    assert result.steps[0].outcome.result["title"] == "VPN drops every hour"

    history = await client.get_workflow_handle(handle.id).fetch_history()
    stored = _stored_payloads(history.events)
    assert all(stored.values()), stored.keys()  # each kind was found
    for kind, payloads in stored.items():
        for payload in payloads:
            assert payload.metadata["encoding"] == ZlibCodec.ENCODING, kind
    [task_input] = await ZlibCodec().decode(stored["input"])
    assert task_input.metadata["encoding"] == b"json/plain"
    assert goal.encode() in task_input.data
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert goal.encode() not in raw  # the goal is stored only through the codec
