"""The store agent written with pydantic-ai, governed by Handrail on a real dev server, with the
scripted Chat Completions model and the store's real SQLite database."""

from __future__ import annotations

from temporalio.client import Client

from examples.pydantic_ai_store.tests.helpers import price, rows, start, status
from examples.pydantic_ai_store.worker import running_worker
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, TextReply


async def test_reads_run_unreviewed_handrails_tool_and_the_agents_own(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    model_server.brain = Scenario([price(), status(), TextReply("It costs 89.99 and shipped.")])
    async with running_worker(client, settings):
        handle = await start(client, settings)
        result = await handle.result()
    assert result.status == "answered", result
    assert result.answer == "It costs 89.99 and shipped."
    tools = [(s.decision.tool, s.gate.action if s.gate else None, s.review) for s in result.steps]
    assert tools[:2] == [("lookup_price", "auto", None), ("order_status", "auto", None)]
    first, second = result.steps[0], result.steps[1]
    assert first.outcome is not None
    assert first.outcome.result["price"] == "89.99"
    assert second.outcome is not None
    assert second.outcome.result == {"output": "order 1001 is shipped"}
    assert first.decision.confidence == 0.95  # the decision fields reached the policy
    assert rows(settings, "refunds") == []
