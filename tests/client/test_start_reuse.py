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

from handrail.cli import main
from handrail.cli.main import build_parser
from handrail.client.core import HandrailClient
from handrail.errors import TaskIdReusedError
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.cli.test_starter_cli import _starter, _worker_env

EXIT_TASK_ID_REUSED = 3


async def _runs(client: Client, task_id: str) -> int:
    return len([w async for w in client.list_workflows(f"WorkflowId = '{task_id}'")])


@pytest.mark.usefixtures("worker")
async def test_a_finished_task_id_reused_for_another_goal_is_refused_with_exit_3(
    settings: HandrailSettings,
    temporal_address: str,
    client: Client,
    handrail: HandrailClient,
    tmp_path: Path,
) -> None:
    # The first start may come from anywhere (here the Python client: one CLI process less,
    # each costs seconds); the CLI is what must tell the truth about the second.
    task_id = f"cli-reuse-{uuid.uuid4().hex[:8]}"
    handle = await handrail.start_task({"goal": "How much is the Wool Socks?", "task_id": task_id})
    first = await handrail.get_result(handle.id)
    assert first.answer == "The price of the Wool Socks is 14.50 EUR."
    env = _worker_env(settings, temporal_address)

    again = await _starter(  # a retry: idempotent, and --wait shows that run's answer
        "start",
        "How much is the Wool Socks?",
        "--task-id",
        task_id,
        "--wait",
        env=env,
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"already finished: {task_id}  http"), again.stdout
    assert "answered: The price of the Wool Socks is 14.50 EUR." in again.stdout

    other = await _starter(
        "start", "How much is the Headlamp?", "--task-id", task_id, "--wait", env=env, cwd=tmp_path
    )
    assert other.returncode == EXIT_TASK_ID_REUSED, (other.stdout, other.stderr)
    assert other.stdout == ""  # no "started" line: nothing started
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
    handrail: HandrailClient,
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
        await handrail.start_task(task)

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


async def test_an_id_held_by_another_kind_of_workflow_is_not_the_same_task(
    client: Client, handrail: HandrailClient
) -> None:
    task_id = f"not-a-task-{uuid.uuid4().hex[:8]}"
    # Another workflow type, on a queue no worker polls: it exists, and stays as it is.
    await client.start_workflow("InvoiceWorkflow", "x", id=task_id, task_queue=task_id)
    try:
        with pytest.raises(TaskIdReusedError, match=r"already exists \(running\)") as raised:
            await handrail.start_or_join({"goal": "How much is the Headlamp?", "task_id": task_id})
        assert raised.value.task_id == task_id
    finally:
        await client.get_workflow_handle(task_id).terminate("test over")


def test_the_exit_codes_are_documented() -> None:
    shown = " ".join(build_parser().format_help().split())
    assert "3 start --task-id: the id already ran a different task, nothing started" in shown
    assert main.EXIT_TASK_ID_REUSED == EXIT_TASK_ID_REUSED
