"""For the ``frameworks`` benchmark: the store task (N ``lookup_price`` calls, then an answer,
scripted) run by the OpenAI Agents SDK agent under Handrail, as
``benchmarks/peer_apps/openai_agents_app.py`` runs it with the SDK alone.

``run_governed`` starts a worker with both plugins on ``settings``' task queue, runs one task to
its end and returns the workflow id; the benchmark reads ms per step and history bytes from it.
"""

from __future__ import annotations

import uuid

from openai import AsyncOpenAI
from temporalio.client import Client

from examples.openai_agents_store.worker import agent_settings, running_worker, with_openai_agents
from examples.openai_agents_store.workflow import WORKFLOW
from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail import HandrailSettings
from handrail.contracts import AgentTask, TaskResult
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, TextReply, ToolCallReply

PROFILE = "openai_agents_bench"
ANSWER = "The Headlamp costs 24.00 EUR."


async def run_governed(
    client: Client, settings: HandrailSettings, model: ScriptedModelServer, steps: int
) -> str:
    """Run the store task of ``steps`` lookups on ``model`` (the benchmark's scripted server:
    the script is routed to it under a fresh marker) and return the workflow id. ``client``:
    any client of the server (Handrail's); the OpenAI Agents plugin is added here."""
    settings = agent_settings(settings)
    create_store(store_db_path(settings))
    marker = f"bench-oa-{uuid.uuid4().hex[:10]}"
    sure = {"rationale": "the customer asked", "confidence": 0.95}
    lookup = ToolCallReply("lookup_price", {"product": "Headlamp", **sure})
    model.route(marker, Scenario([*([lookup] * steps), TextReply(ANSWER)]))
    openai = AsyncOpenAI(base_url=model.base_url, api_key="bench", max_retries=0)
    governed = with_openai_agents(client, openai)
    try:
        async with running_worker(governed, settings):
            task = AgentTask(
                task_id=marker, goal=f"{marker} How much is the Headlamp?", profile=PROFILE
            )
            handle = await governed.start_workflow(
                WORKFLOW, task, id=marker, task_queue=settings.task_queue, result_type=TaskResult
            )
            result = await handle.result()
    finally:
        model.unroute(marker)
        await openai.close()
    if result.status != "answered":
        raise RuntimeError(f"the governed run ended {result.status}: {result.error}")
    return marker
