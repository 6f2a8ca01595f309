"""The policy outside the pydantic-ai agent's model: an action outside the task's scope is
refused and the model told why; the agent's own tool is refused unless the profile names it;
the run lands in the ledger that ``stats`` reads, and a tool that shows trouble is demoted at
once."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from examples.pydantic_ai_store.tests.helpers import (
    approve_answer,
    price,
    refund,
    rows,
    start,
    status,
)
from examples.pydantic_ai_store.worker import PROFILE, PROFILES, running_worker
from handrail.cli.stats import register
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.storage.autonomy_levels import AutonomyLevels
from handrail.storage.autonomy_log import AutonomyLog
from handrail.testing.scripted_model import (
    Scenario,
    ScriptedModelServer,
    TextReply,
    ToolCallReply,
    messages_of,
)
from handrail.trust.auto_demotion import AUTOMATIC
from handrail.trust.autonomy import read_log


def _tell_what_the_tool_said(request: dict[str, Any]) -> TextReply:
    """The model answers with the last tool result it was sent (what it was told)."""
    return TextReply(str(messages_of(request)[-1].get("content")))


async def test_an_action_outside_the_tasks_scope_is_denied_and_the_model_told(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    model_server.brain = Scenario([refund(1003, "10.00"), _tell_what_the_tool_said])
    async with running_worker(client, settings):
        handle = await start(client, settings, context={"order_id": 1001})
        result = await handle.result()
    assert result.status == "answered", result
    [step, _] = result.steps
    assert step.gate is not None
    assert step.gate.action == "deny"
    assert "outside the task's scope" in step.gate.reason
    told = json.loads(result.answer or "")
    assert told["error"].startswith("denied by policy: ")
    assert "outside the task's scope" in told["error"]
    assert rows(settings, "refunds") == []


async def test_the_agents_own_tool_is_denied_unless_the_profile_names_it(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    # The same profile without order_status (and its rule), in a folder searched first.
    text = (PROFILES / f"{PROFILE}.toml").read_text()
    listed = 'framework_tools = ["order_status", "customer_contact"]'
    assert listed in text
    text = text.replace(listed, 'framework_tools = ["customer_contact"]')
    text = text.replace('[rules.order_status]\neffect = "read_only"\nautonomy = "autonomous"', "")
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / f"{PROFILE}.toml").write_text(text)
    settings = settings.model_copy(update={"profiles_dir": folder})
    model_server.brain = Scenario([status(), _tell_what_the_tool_said])
    async with running_worker(client, settings):
        result = await (await start(client, settings)).result()
    [step, _] = result.steps
    assert step.decision.tool == "order_status"
    assert step.gate is not None
    assert step.gate.action == "deny"
    assert step.outcome is None  # never ran
    assert json.loads(result.answer or "")["error"].startswith("denied by policy: ")


async def test_the_run_is_in_stats_and_a_drifting_tool_is_demoted_at_once(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Five refund proposals, two past the profile's deny_above: trouble that demotes the tool
    # when the run is recorded.
    model_server.brain = Scenario(
        [
            refund(1001, "10.00"),
            refund(1001, "900.00"),
            refund(1002, "10.00"),
            refund(1002, "900.00"),
            refund(1003, "10.00"),
            TextReply("Refunded what I could."),
        ]
    )
    async with running_worker(client, settings):
        handle = await start(client, settings)
        await approve_answer(handrail, handle.id)
        result = await handle.result()
    gates = [s.gate.action for s in result.steps if s.gate and s.decision.tool == "issue_refund"]
    assert gates == ["auto", "deny", "auto", "deny", "auto"]
    log = AutonomyLog(settings.state_database_url)
    level = AutonomyLevels(log.database).current(PROFILE)["issue_refund"]
    assert level.autonomy == "suggest"
    [change] = read_log(log, profile=PROFILE)
    assert (change.who, change.tool, change.to_level) == (AUTOMATIC, "issue_refund", "suggest")

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["stats", "--json", "--profile", PROFILE])
    assert await args.handler(settings, args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tasks"] == 1
    assert report["statuses"] == {"answered": 1}
    assessed = {a["tool"]: a["level"] for a in report["autonomy"]}
    assert assessed["issue_refund"] == "suggest"
    assert {"issue_refund"} <= {action["action"] for action in report["actions"]}


async def test_arguments_that_are_not_json_go_back_to_the_model(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    broken = ToolCallReply("lookup_price", '{"product": "Trail Run')
    model_server.brain = Scenario([broken, price(), TextReply("89.99")])
    async with running_worker(client, settings):
        # Bounded: an exception the workflow does not expect fails its task, retried forever.
        handle = await start(client, settings)
        result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.status == "answered", result
    assert [s.decision.tool for s in result.steps] == ["lookup_price", None]
