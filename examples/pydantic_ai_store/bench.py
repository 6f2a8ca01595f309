"""The pydantic-ai store agent under Handrail, for the ``frameworks`` benchmark: the same task as
the "framework alone" peer (``benchmarks/peer_apps/pydantic_ai_app.py``: N ``lookup_price``
calls, then an answer, scripted), each call governed (gate, step record, Handrail's tool
activity). The benchmark reads ms/step and history bytes from the workflow it returns::

    bench.model.route(marker, Scenario(script(steps)))
    task_id = await run_governed(client, settings, bench.model.base_url, steps, marker=marker)
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Final

from temporalio.client import Client

from examples.pydantic_ai_store.agent import WORKFLOW
from examples.pydantic_ai_store.worker import running_worker, with_pydantic_ai
from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail import HandrailSettings
from handrail.contracts import AgentTask, TaskResult
from handrail.testing.scripted_model import Reply, TextReply, ToolCallReply

PROFILES: Final = Path(__file__).resolve().parent / "bench_profiles"
PROFILE: Final = "pydantic_ai_store_bench"
ANSWER: Final = "The Headlamp costs 24.00 EUR."


def script(steps: int) -> list[Reply]:
    """What the scripted model says: ``steps`` price lookups (sure of each), then the answer."""
    call = ToolCallReply(
        "lookup_price", {"product": "Headlamp", "rationale": "the price asked", "confidence": 0.95}
    )
    return [*([call] * steps), TextReply(ANSWER)]


async def run_governed(
    client: Client,
    settings: HandrailSettings,
    model_base_url: str,
    steps: int,
    *,
    marker: str | None = None,
) -> str:
    """Run the store task of ``steps`` lookups under Handrail on a worker of its own (for the
    run) and return its workflow id once it has ended. The model at ``model_base_url`` must
    play :func:`script` for conversations whose first user message holds ``marker`` (the
    workflow id too; default a fresh one)."""
    task_id = marker or f"pai-bench-{uuid.uuid4().hex[:12]}"
    settings = settings.model_copy(
        update={"openai_base_url": model_base_url, "profiles_dir": PROFILES}
    )
    if not store_db_path(settings).exists():
        create_store(store_db_path(settings))
    client = with_pydantic_ai(client)
    async with running_worker(client, settings):
        handle = await client.start_workflow(
            WORKFLOW,
            AgentTask(goal=f"{task_id} How much is the Headlamp?", profile=PROFILE),
            id=task_id,
            task_queue=settings.task_queue,
            result_type=TaskResult,
        )
        result = await handle.result()
    if result.status != "answered" or result.answer != ANSWER:
        raise RuntimeError(f"the governed run {task_id} ended {result.status}: {result.error}")
    return task_id
