"""Temporal's OpenAI Agents SDK integration (``temporalio.contrib.openai_agents``, which in
temporalio 1.35 forwards to the standalone ``temporalio-openai-agents`` package): an
``agents.Agent`` run by ``Runner.run`` inside a workflow, on a client with
``OpenAIAgentsPlugin``, which makes each model call an activity. The tool is a Temporal
activity turned into a tool with ``activity_as_tool``, as the integration documents.

The model is the plugin's ``model_provider``: the SDK's ``OpenAIProvider`` over an
``AsyncOpenAI`` client on the scripted server, speaking Chat Completions (``use_responses=False``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from agents import Agent, Runner
    from temporalio.contrib.openai_agents.workflow import activity_as_tool

    from benchmarks.peer_apps.common import (
        INSTRUCTIONS,
        MODEL_NAME,
        PeerTask,
        lookup_price_text,
    )

WORKFLOW = "PeerOpenAIAgents"
TOOL_ACTIVITY = "peer_openai_agents_lookup_price"


class PriceTool:
    """The tool's activity; the store's file comes from the worker that registers it."""

    def __init__(self, store_db: str) -> None:
        self._store_db = store_db

    @activity.defn(name=TOOL_ACTIVITY)
    async def lookup_price(self, product: str) -> str:
        """Look up a product's current price and currency by its name."""
        return await lookup_price_text(self._store_db, product)


@workflow.defn(name=WORKFLOW)
class OpenAIAgentsPeerWorkflow:
    @workflow.run
    async def run(self, task: PeerTask) -> str:
        agent: Agent[None] = Agent(
            name="peer_store",
            instructions=INSTRUCTIONS,
            model=MODEL_NAME,
            tools=[
                activity_as_tool(
                    PriceTool.lookup_price, start_to_close_timeout=timedelta(seconds=30)
                )
            ],
        )
        # The default is 10 turns; the benchmark scripts up to 1,000 steps.
        result = await Runner.run(agent, input=task.prompt, max_turns=task.steps + 5)
        return str(result.final_output)
