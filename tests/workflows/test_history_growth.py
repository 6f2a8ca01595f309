"""History stays bounded: each step adds about the same number of bytes whatever the step
count, because the conversation lives in the decide activity's store, not in history."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from examples.store.database import create_store
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from tests.history_tools import history_bytes

WHY = {"rationale": "keep looking", "confidence": 0.8}


def _long_task_scenario(tool_steps: int) -> Scenario:
    """``tool_steps`` price lookups (the product alternates so results differ), then an answer."""
    products = ["Headlamp", "Rain Jacket", "Wool Socks", "Water Bottle"]

    def reply_at(step: int) -> Reply:
        return ToolCallReply("lookup_price", {"product": products[step % len(products)], **WHY})

    replies: list[Reply] = [reply_at(i) for i in range(tool_steps)]
    replies.append(ToolCallReply("final_answer", {"answer": "done", **WHY}))
    return Scenario(replies)


@pytest.fixture
def long_settings(settings: HandrailSettings, tmp_path: Path) -> HandrailSettings:
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles)
    text = (profiles / "store_support.toml").read_text().replace("max_steps = 6", "max_steps = 80")
    (profiles / "store_support.toml").write_text(text)
    return settings.model_copy(update={"profiles_dir": profiles})


async def _history_size(
    handrail: HandrailClient, client: Client, server: ScriptedModelServer, steps: int
) -> int:
    server.brain = _long_task_scenario(steps - 1)  # steps = tool steps + the final answer
    handle = await handrail.start_task({"goal": f"Run {steps} steps"})
    result = await handrail.get_result(handle.id)
    assert result.status == "answered"
    assert len(result.steps) == steps
    return history_bytes(await client.get_workflow_handle(handle.id).fetch_history())


async def test_bytes_per_step_do_not_grow_with_step_count(
    client: Client, long_settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    create_store(store_db_path(long_settings))
    handrail = HandrailClient(client, long_settings)
    sizes: dict[int, int] = {}
    async with running_worker(client, long_settings):
        for steps in (1, 10, 50):
            sizes[steps] = await _history_size(handrail, client, model_server, steps)

    # Bytes added per step beyond the first: the task's fixed cost (start, profile, completion)
    # cancels out, so this is what one more step costs.
    per_step_10 = (sizes[10] - sizes[1]) / 9
    per_step_50 = (sizes[50] - sizes[1]) / 49
    print(f"history bytes: {sizes}; per step at 10: {per_step_10:.0f}, at 50: {per_step_50:.0f}")
    assert abs(per_step_50 - per_step_10) <= 0.10 * per_step_10
    # Bounded in absolute terms too: a bare two-activity step is ~1.5 KB; the result's step
    # records (returned once, at the end) are the rest.
    assert per_step_50 < 3_000


async def test_small_workflow_cache_replays_to_the_same_result(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer
) -> None:
    """With no workflow cache every step replays the whole history: a nondeterministic
    workflow would fail here instead of finishing."""
    create_store(store_db_path(settings))
    handrail = HandrailClient(client, settings)
    model_server.brain = _long_task_scenario(4)
    options: dict[str, Any] = {"max_cached_workflows": 0}
    worker: Worker
    async with running_worker(client, settings, **options) as worker:
        assert worker.task_queue == settings.task_queue
        handle = await handrail.start_task({"goal": "Replay me"})
        result = await handrail.get_result(handle.id)
    assert result.status == "answered"
    assert [s.decision.kind for s in result.steps] == ["tool_call"] * 4 + ["final_answer"]
