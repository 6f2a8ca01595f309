"""A long task keeps its starter: the memo the gateway records at the start travels with
continue-as-new, so the service that started the task still reads it (and another still does
not) after the task has continued as new."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio.client import Client

from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.worker import running_worker
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.http.test_http_api import SERVICE_TOKENS, bearer, serve_gateway
from tests.review_helpers import PROFILE, WHY, answer

# Small enough that a few steps cross it: each step adds about a dozen events.
EVERY = 100
LOOKUP = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})


async def test_the_starter_survives_continue_as_new(
    client: Client, settings: HandrailSettings, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(STORE_PROFILES, profiles)
    actions = profiles / "store_actions.toml"
    text = actions.read_text().replace("max_steps = 8", "max_steps = 40")
    actions.write_text(text.replace("max_tokens = 40000", "max_tokens = 10000000"))
    long = settings.model_copy(
        update={"continue_as_new_after_events": EVERY, "profiles_dir": profiles}
    )
    model_server.brain = Scenario([LOOKUP] * 12 + [answer("The Headlamp is 24.00.")])
    async with serve_gateway(client, long) as api, running_worker(client, long):
        started = await api.http.post(
            "/tasks",
            json={"goal": "How much is the Headlamp, ten times?", "profile": PROFILE},
            headers=bearer(SERVICE_TOKENS["billing"]),
        )
        assert started.status_code == 201, started.text
        task_id = started.json()["task_id"]
        done = await api.wait_done(task_id, timeout=60)
        assert done["status"] == "answered", done
        latest = await client.get_workflow_handle(task_id).describe()
        history = await client.get_workflow_handle(task_id).fetch_history()
        first = history.events[0].workflow_execution_started_event_attributes
        assert first.continued_execution_run_id, "the task did not continue as new"
        assert latest.run_id == history.run_id
        for who, status in (("billing", 200), ("shipping", 404)):
            for path in (f"/tasks/{task_id}", f"/tasks/{task_id}/trace"):
                response = await api.http.get(path, headers=bearer(SERVICE_TOKENS[who]))
                assert response.status_code == status, (who, path, response.text)
