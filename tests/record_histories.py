"""Record the workflow histories that CI replays: ``python -m tests.record_histories``.

Run it after a deliberate, versioned change to ``AgentWorkflow`` (and commit the new files);
never to make a failing replay pass by accident. Each scenario is scripted, so the recorded
history is the same shape every time.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

from pydantic import SecretStr
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from handrail.client import HandrailClient
from handrail.devserver import find_temporal_binary
from handrail.settings import HandrailSettings
from handrail.store.database import create_store
from handrail.testing.scripted_model import (
    Brain,
    Scenario,
    ScriptedModelServer,
    ToolCallReply,
)
from handrail.testing.store_clerk import StoreClerk
from worker import running_worker

HISTORIES = Path(__file__).parent / "histories"
_WHY = {"rationale": "recorded scenario", "confidence": 0.7}

SCENARIOS: dict[str, tuple[str, Brain]] = {
    "pricing_answered": ("How much are the Trail Runner Shoes?", StoreClerk()),
    "malformed_then_answered": (
        "Rain Jacket price?",
        Scenario(
            [
                ToolCallReply("no_such_tool", {**_WHY}),
                ToolCallReply("lookup_price", '{"product": '),
                ToolCallReply("lookup_price", {"product": "Rain Jacket", **_WHY}),
                ToolCallReply("final_answer", {"answer": "129.00 EUR", **_WHY}),
            ]
        ),
    ),
    "escalated": ("Can you write me a poem?", StoreClerk()),
}


async def record() -> dict[str, str]:
    """Run every scenario; return each history as JSON, by scenario name."""
    recorded: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch, ScriptedModelServer() as model:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(find_temporal_binary()),
            data_converter=pydantic_data_converter,
        )
        try:
            settings = HandrailSettings(
                _env_file=None,
                temporal_address=env.client.service_client.config.target_host,
                task_queue=f"record-{uuid.uuid4().hex[:8]}",
                data_dir=Path(scratch),
                openai_base_url=model.base_url,
                openai_api_key=SecretStr("recording"),
                embedded_server=False,
            )
            create_store(settings.store_db_path)
            handrail = HandrailClient(env.client, settings)
            async with running_worker(env.client, settings):
                for name, (goal, brain) in SCENARIOS.items():
                    model.brain = brain
                    handle = await handrail.start_task(
                        {"goal": goal, "task_id": f"recorded-{name}"}
                    )
                    await handrail.get_result(handle.id)
                    recorded[name] = (await handle.fetch_history()).to_json()
        finally:
            await env.shutdown()
    return recorded


if __name__ == "__main__":
    HISTORIES.mkdir(parents=True, exist_ok=True)
    for name, history in asyncio.run(record()).items():
        path = HISTORIES / f"{name}.json"
        path.write_text(history)
        print(f"wrote {path}")
