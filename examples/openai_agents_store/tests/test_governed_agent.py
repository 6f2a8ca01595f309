"""The OpenAI Agents SDK store agent under Handrail, on a real dev server with the scripted
Chat Completions model: reads run on their own, a large refund waits for a person, a rejection
rolls back, an action outside the task's scope is refused and the model told."""

from __future__ import annotations

from temporalio.client import Client

from examples.openai_agents_store.tests.helpers import (
    call,
    start,
)
from examples.openai_agents_store.worker import running_worker
from handrail import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, TextReply


async def test_reads_run_unreviewed_through_both_kinds_of_tool(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    script = Scenario(
        [
            call("lookup_price", product="Headlamp"),
            call("order_status", order_id=1001),
            TextReply("The Headlamp costs 24.00 EUR."),
        ]
    )
    with model_server.routed(script) as marker:
        async with running_worker(client, settings):
            handle = await start(client, settings, f"{marker} How much is the Headlamp?")
            result = await handle.result()
    assert result.status == "answered", result
    assert result.answer == "The Headlamp costs 24.00 EUR."
    price, order = result.steps[0], result.steps[1]
    assert (price.decision.tool, order.decision.tool) == ("lookup_price", "order_status")
    assert all(s.gate is not None and s.gate.action == "auto" for s in (price, order))
    assert price.decision.confidence == 0.95  # the decision fields reached the policy
    assert price.outcome is not None
    assert price.outcome.result["currency"] == "EUR"
    # The agent's own activity_as_tool ran, and its text is what the model was told.
    assert order.outcome is not None
    assert "1001" in order.outcome.result["output"]
