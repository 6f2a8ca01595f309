"""The benchmark's entry point runs the scripted store task under Handrail to its answer."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from examples.pydantic_ai_store.bench import run_governed, script
from handrail.contracts import TaskResult
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer

STEPS = 12


async def test_run_governed_runs_n_governed_lookups_then_answers(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    marker = f"pai-bench-{uuid.uuid4().hex[:8]}"
    model_server.route(marker, Scenario(script(STEPS)))
    try:
        task_id = await run_governed(client, settings, model_server.base_url, STEPS, marker=marker)
    finally:
        model_server.unroute(marker)
    result = await client.get_workflow_handle(task_id, result_type=TaskResult).result()
    lookups = [s for s in result.steps if s.decision.tool == "lookup_price"]
    assert len(lookups) == STEPS  # above the store profile's 8-step budget
    assert all(s.gate is not None and s.gate.action == "auto" for s in lookups)
