"""pydantic-ai's Temporal integration: an ``Agent`` with the ``TemporalDurability`` capability
(the successor of the deprecated ``TemporalAgent`` wrapper, with the same activities and
payloads), run by a workflow that lists it in ``__pydantic_ai_agents__``, on a client with
``PydanticAIPlugin``. Every model request and the tool call are activities, as pydantic-ai
does by default.

The model is ``OpenAIChatModel`` over one ``AsyncOpenAI`` client made at import (the agent
must be a module global for the workflow and the plugin to find it); ``bind_model`` points it
at the scripted server once the benchmark knows its port. Model requests run only in
activities, on the host, so the copy of this module that the workflow sandbox imports never
sends a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from openai import AsyncOpenAI
    from pydantic_ai import Agent, RunContext
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow, TemporalDurability
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.usage import UsageLimits

    from benchmarks.peer_apps.common import (
        INSTRUCTIONS,
        MODEL_NAME,
        PeerTask,
        lookup_price_text,
    )

WORKFLOW = "PeerPydanticAI"

# Replaced by ``bind_model`` before any worker starts; port 9 (discard) answers nothing.
MODEL_CLIENT = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="bench", max_retries=0)


def bind_model(base_url: str) -> None:
    """Send this agent's model requests to ``base_url`` (the scripted Chat Completions server)."""
    MODEL_CLIENT.base_url = base_url


@dataclass
class StoreDeps:
    store_db: str


async def lookup_price(ctx: RunContext[StoreDeps], product: str) -> str:
    """Look up a product's current price and currency by its name."""
    return await lookup_price_text(ctx.deps.store_db, product)


agent = Agent(
    OpenAIChatModel(MODEL_NAME, provider=OpenAIProvider(openai_client=MODEL_CLIENT)),
    name="peer_store",
    instructions=INSTRUCTIONS,
    deps_type=StoreDeps,
    tools=[lookup_price],
    capabilities=[TemporalDurability()],
)


@workflow.defn(name=WORKFLOW)
class PydanticAIPeerWorkflow(PydanticAIWorkflow):
    __pydantic_ai_agents__ = (agent,)

    @workflow.run
    async def run(self, task: PeerTask) -> str:
        result = await agent.run(
            task.prompt,
            deps=StoreDeps(store_db=task.store_db),
            # The default limit is 50 requests; the benchmark scripts up to 1,000 steps.
            usage_limits=UsageLimits(request_limit=task.steps + 5),
        )
        return result.output
