"""The run ledger for the OpenAI Agents SDK agent: its run shows in ``stats`` with its tools, and
a run whose refunds the policy kept refusing demotes ``issue_refund`` at once, so the next task's
refund goes to a person."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from temporalio.client import Client

from examples.openai_agents_store.tests.helpers import (
    PROFILE,
    call,
    refund,
    start,
    wait_for_pending,
)
from examples.openai_agents_store.worker import running_worker
from handrail import HandrailSettings
from handrail.client.core import HandrailClient
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, TextReply


async def _stats(settings: HandrailSettings) -> Any:
    """``handrail stats --json --profile openai_agents_store``, as a person runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(
        HANDRAIL_DATA_DIR=str(settings.data_dir),
        HANDRAIL_PROFILES_DIRS=os.pathsep.join(str(p) for p in settings.profile_folders),
    )
    command = Path(sys.executable).parent / "handrail"
    process = await asyncio.create_subprocess_exec(
        str(command), "stats", "--json", "--profile", PROFILE, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    return json.loads(out)


async def test_the_run_is_in_stats_and_trouble_demotes_the_tool(
    client: Client,
    settings: HandrailSettings,
    handrail: HandrailClient,
    model_server: ScriptedModelServer,
) -> None:
    # Five refunds, two past the profile's deny_above: demoted when the run is recorded.
    script = Scenario(
        [
            call("order_status", order_id=1001),
            refund("10.00", 1001),
            refund("900.00", 1001),
            refund("10.00", 1002),
            refund("900.00", 1002),
            refund("10.00", 1003),
            TextReply("Refunded what I could."),
        ]
    )
    then = Scenario([refund("10.00", 1001), TextReply("Refunded 10.00.")])
    with model_server.routed(script) as first, model_server.routed(then) as second:
        async with running_worker(client, settings):
            handle = await start(client, settings, f"{first} Refund my orders.")
            answer = await wait_for_pending(handrail, handle.id)
            assert answer.tool == "final_answer"
            await handrail.review(
                handle.id, {"reviewer": "alice", "step": answer.step, "verdict": "approve"}
            )
            result = await handle.result()
            gates = [
                s.gate.action for s in result.steps if s.gate and s.decision.tool == "issue_refund"
            ]
            assert gates == ["auto", "deny", "auto", "deny", "auto"]

            following = await start(client, settings, f"{second} Refund order 1001.")
            pending = await wait_for_pending(handrail, following.id)
            assert pending.tool == "issue_refund"
            assert "suggest" in pending.reason
            await handrail.review(
                following.id, {"reviewer": "alice", "step": 1, "verdict": "reject"}
            )
            await following.result()

    report = await _stats(settings)
    assert report["tasks"] == 2, report["tasks"]
    levels = {a["tool"]: a["level"] for a in report["autonomy"]}
    assert levels["issue_refund"] == "suggest"  # the automatic demotion
    assert "order_status" in json.dumps(report)  # the agent's own tool is in the ledger too
