"""A 3,000-step task runs to completion (slow: ``pytest -m slow
tests/workflows/test_long_task.py``): every run of its continue-as-new chain keeps its history
under the threshold, and its result stays bounded, with the newest steps listed and the rest
counted. Once with Handrail's state on SQLite, once on PostgreSQL (conftest's ``state_url``):
the task's conversation, read back in a window every step, lives there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import RECENT_STEPS_KEPT
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Reply, Scenario, ScriptedModelServer, ToolCallReply
from tests.review_helpers import WHY

STEPS = 3_000
THRESHOLD = 2_000  # events per run before it continues as new


@pytest.mark.slow
async def test_a_3000_step_task_finishes_in_bounded_runs(
    client: Client,
    settings: HandrailSettings,
    model_server: ScriptedModelServer,
    tmp_path: Path,
    state_url: str,
) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles)
    support = profiles / "store_support.toml"
    support.write_text(support.read_text().replace("max_steps = 6", f"max_steps = {STEPS + 5}"))
    long = settings.model_copy(
        update={
            "profiles_dir": profiles,
            "continue_as_new_after_events": THRESHOLD,
            "state_url": SecretStr(state_url),
        }
    )
    create_store(store_db_path(long))
    lookup = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})
    replies: list[Reply] = [lookup] * STEPS
    replies.append(ToolCallReply("final_answer", {"answer": "34.50 EUR", **WHY}))
    model_server.brain = Scenario(replies)

    async with running_worker(client, long):
        handrail = HandrailClient(client, long)
        handle = await handrail.start_task({"goal": "Headlamp price, many times"})
        result = await handrail.get_result(handle.id)
        runs, run_id = [], None
        while True:  # the chain, newest first, through each run's continued-from link
            history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            runs.append(history)
            started = history.events[0].workflow_execution_started_event_attributes
            if not started.continued_execution_run_id:
                break
            run_id = started.continued_execution_run_id

    assert result.status == "answered"
    assert result.earlier_steps + len(result.steps) == STEPS + 1
    assert len(result.steps) < RECENT_STEPS_KEPT + THRESHOLD // 5
    assert len(result.model_dump_json()) < 512 * 1024  # Temporal warns above 512 KiB
    assert len(runs) >= STEPS * 5 // THRESHOLD  # several runs, each under the threshold
    assert max(len(h.events) for h in runs) < THRESHOLD + 50
    print(
        f"{make_url(state_url).get_backend_name()}: {STEPS} steps in {len(runs)} runs; "
        f"largest run {max(len(h.events) for h in runs)} events; "
        f"result {len(result.model_dump_json()):,} bytes"
    )
