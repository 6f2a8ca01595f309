"""Honest starts (issue 19): ``starter.py start --task-id X`` on an id that already ran.

The same task again (goal, profile, context) starts nothing and says the run is already running
or finished, exit 0. A different task under the id used to print ``started X`` and exit 0 while
nothing new started; it is refused with exit 3, saying so. Through the real CLI process, on the
real dev server with a real worker.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.test_starter_cli import _clean_env, _starter, _worker_env

EXIT_TASK_ID_REUSED = 3


async def _runs(client: Client, task_id: str) -> int:
    return len([w async for w in client.list_workflows(f"WorkflowId = '{task_id}'")])


@pytest.mark.usefixtures("worker")
async def test_a_finished_task_id_reused_for_another_goal_is_refused_with_exit_3(
    settings: HandrailSettings, temporal_address: str, client: Client, tmp_path: Path
) -> None:
    env = _worker_env(settings, temporal_address)
    task_id = f"cli-reuse-{uuid.uuid4().hex[:8]}"
    socks = ("start", "How much is the Wool Socks?", "--task-id", task_id)
    first = await _starter(*socks, "--wait", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"started {task_id}" in first.stdout
    assert "answered: The price of the Wool Socks is 14.50 EUR." in first.stdout

    again = await _starter(*socks, env=env, cwd=tmp_path)  # a retry: idempotent
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"already finished: {task_id}  http"), again.stdout
    waited = await _starter(*socks, "--wait", env=env, cwd=tmp_path)
    assert waited.returncode == 0, waited.stderr
    assert "answered: The price of the Wool Socks is 14.50 EUR." in waited.stdout

    other = await _starter(
        "start", "How much is the Headlamp?", "--task-id", task_id, "--wait", env=env, cwd=tmp_path
    )
    assert other.returncode == EXIT_TASK_ID_REUSED, (other.stdout, other.stderr)
    assert "started" not in other.stdout
    assert other.stdout == ""
    assert other.stderr.strip() == (
        f"error: task {task_id} already exists (finished: completed) with a different goal, "
        f"profile or context: nothing new started; use another task id, or `result {task_id}` "
        "for that task"
    )
    assert await _runs(client, task_id) == 1  # nothing new ran


@pytest.mark.usefixtures("worker")
async def test_a_running_task_id_is_joined_by_the_same_task_and_refused_to_another(
    settings: HandrailSettings,
    temporal_address: str,
    client: Client,
    model_server: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    # A refund above the review threshold: the task waits for a reviewer, so it stays running.
    model_server.brain = Scenario(
        [
            ToolCallReply(
                "issue_refund",
                {"order_id": 1003, "amount": "80.00", "reason": "r", "confidence": 0.9},
            ),
            ToolCallReply("final_answer", {"answer": "ok", "confidence": 0.9}),
        ]
    )
    env = _worker_env(settings, temporal_address)
    task_id = f"cli-reuse-{uuid.uuid4().hex[:8]}"
    task = {
        "goal": "Refund order 1003",
        "profile": "store_actions",
        "context": {"order_id": 1003},
        "task_id": task_id,
    }
    try:
        first = await _starter("start", "--input", json.dumps(task), env=env, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith(f"started {task_id}  http"), first.stdout

        # The same task from the options instead of JSON: the same goal, profile and context.
        same = await _starter(
            "start",
            "Refund order 1003",
            "--profile",
            "store_actions",
            "--context",
            '{"order_id": 1003}',
            "--task-id",
            task_id,
            env=env,
            cwd=tmp_path,
        )
        assert same.returncode == 0, same.stderr
        assert same.stdout.startswith(f"already running: {task_id}  http"), same.stdout

        # Another order in the context is another task, however alike the goal reads.
        other = {**task, "context": {"order_id": 1001}}
        refused = await _starter("start", "--input", json.dumps(other), env=env, cwd=tmp_path)
        assert refused.returncode == EXIT_TASK_ID_REUSED, (refused.stdout, refused.stderr)
        assert refused.stdout == ""
        assert f"error: task {task_id} already exists (running) with a different goal" in (
            refused.stderr
        )
        assert await _runs(client, task_id) == 1
    finally:
        await client.get_workflow_handle(task_id).terminate("test over")


async def test_the_exit_codes_are_documented(tmp_path: Path) -> None:
    shown = await _starter("--help", env=_clean_env(), cwd=tmp_path)
    assert shown.returncode == 0
    assert "3 start --task-id: the id already ran a different task, nothing started" in (
        " ".join(shown.stdout.split())
    )
