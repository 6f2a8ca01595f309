"""A call's one-line summary (the Temporal UI's activity summary, the step's outcome in the
trace) reads as one phrase: the tool's name before its summary, unless the summary already
names the action in words (``list instances`` of ``list_instances``, not both)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client

from handrail import ToolContext, tool
from handrail.policy.redaction import named_summary
from handrail.testing import FunctionModel, Scenario, agent_worker, call


@pytest.mark.parametrize(
    ("name", "summary", "line"),
    [
        ("list_instances", "list instances", "list instances"),
        ("close_ticket", "close ticket 7", "close ticket 7"),
        ("close_ticket", "Close ticket 7", "Close ticket 7"),
        ("close_ticket", "close_ticket 7", "close_ticket 7"),
        ("issue_refund", "40.00 on order 1003", "issue_refund 40.00 on order 1003"),
        ("lookup_ticket", "ticket 7", "lookup_ticket ticket 7"),
        ("close_ticket", "closed ticket 7", "close_ticket closed ticket 7"),
        ("list_instances", "", "list_instances"),
    ],
)
def test_a_summary_names_the_action_once(name: str, summary: str, line: str) -> None:
    assert named_summary(name, summary) == line


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstanceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: str


@tool(read_only=True, summary="list instances", timeout=30)  # a regular activity
async def list_instances(args: NoArgs, ctx: ToolContext) -> dict[str, Any]:
    """List the running instances."""
    return {"instances": ["i-1"]}


@tool(read_only=True, summary="{instance_id}: {state}", timeout=30)
async def describe_instance(args: InstanceArgs, ctx: ToolContext) -> dict[str, Any]:
    """Describe one instance."""
    return {"state": "running"}


async def test_the_ui_and_the_trace_read_each_call_once(client: Client, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "ops.toml").write_text(
        'name = "ops"\nsystem_prompt = "You run the fleet."\n'
        'tools = ["list_instances", "describe_instance"]\n'
    )
    replies = [
        call("list_instances"),
        call("describe_instance", instance_id="i-1"),
        call("final_answer", answer="i-1 runs"),
    ]
    async with agent_worker(
        client,
        tmp_path / "data",
        tools=[list_instances, describe_instance],
        model=FunctionModel(Scenario(replies)),
        profiles=[profiles],
    ) as handrail:
        handle = await handrail.start_task({"goal": "What runs?", "profile": "ops"})
        result = await handrail.get_result(handle.id)
        history = await handle.fetch_history()

    assert result.status == "answered"
    outcomes = [step.outcome.summary for step in result.steps if step.outcome is not None]
    assert outcomes == ["list instances", "describe_instance i-1: running"]
    shown = [
        json.loads(event.user_metadata.summary.data)
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.user_metadata.HasField("summary")
    ]
    assert "list instances" in shown
    assert "describe_instance i-1: ?" in shown  # before the call: no result to fill in yet
