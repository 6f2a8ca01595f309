"""Tasks started from outside Python (the temporal CLI with plain JSON), and bad input, refused
with a message that names the problem: at the client before a workflow starts, and as a
non-retryable workflow failure when it reaches the workflow another way."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from handrail.client.core import HandrailClient, parse_task
from handrail.contracts import MAX_CONTEXT_BYTES, MAX_GOAL_CHARS, TaskResult
from handrail.errors import InvalidTaskError, TaskFailedError, UnknownProfileError
from handrail.names import WORKFLOW_TYPE
from handrail.runtime.devserver import find_temporal_binary
from handrail.settings import HandrailSettings

pytestmark = pytest.mark.usefixtures("worker")


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str


async def _temporal_cli(*args: str) -> CliRun:
    """Run the temporal CLI without blocking the event loop (the worker runs on it)."""
    process = await asyncio.create_subprocess_exec(
        str(find_temporal_binary()),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return CliRun(process.returncode, stdout.decode(), stderr.decode())


async def _cli_start(address: str, task_queue: str, workflow_id: str, payload: str) -> CliRun:
    return await _temporal_cli(
        "workflow",
        "start",
        "--address",
        address,
        "--type",
        WORKFLOW_TYPE,
        "--task-queue",
        task_queue,
        "--workflow-id",
        workflow_id,
        "--input",
        payload,
    )


async def _cli_task_failure(
    client: Client, temporal_address: str, settings: HandrailSettings, payload: str
) -> str:
    """Start ``payload`` with the CLI; return the message the workflow failed with."""
    workflow_id = f"cli-bad-{uuid.uuid4().hex[:8]}"
    started = await _cli_start(temporal_address, settings.task_queue, workflow_id, payload)
    assert started.returncode == 0, started.stderr
    handle = client.get_workflow_handle(workflow_id, result_type=TaskResult)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()  # fails: if it retried forever instead, the test would time out
    cause = failure.value.cause
    return str(getattr(cause, "message", cause))


async def test_cli_starts_a_task_with_plain_json(
    client: Client, temporal_address: str, settings: HandrailSettings
) -> None:
    workflow_id = f"cli-{uuid.uuid4().hex[:8]}"
    started = await _cli_start(
        temporal_address,
        settings.task_queue,
        workflow_id,
        '{"goal": "How much is the Rain Jacket?", "profile": "store_support"}',
    )
    assert started.returncode == 0, started.stderr
    result = await client.get_workflow_handle(workflow_id, result_type=TaskResult).result()
    assert isinstance(result, TaskResult)
    assert result.status == "answered"
    assert result.answer is not None
    assert "129.00 EUR" in result.answer
    assert result.task_id == workflow_id


async def test_cli_result_is_plain_json_for_other_sdks(
    client: Client, temporal_address: str, settings: HandrailSettings
) -> None:
    workflow_id = f"cli-json-{uuid.uuid4().hex[:8]}"
    await _cli_start(
        temporal_address, settings.task_queue, workflow_id, '{"goal": "Headlamp price?"}'
    )
    await client.get_workflow_handle(workflow_id).result()
    shown = await _temporal_cli(
        "workflow",
        "result",
        "--address",
        temporal_address,
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
    )
    assert '"status": "answered"' in shown.stdout
    assert "24.00 EUR" in shown.stdout
    queried = await _temporal_cli(
        "workflow",
        "query",
        "--address",
        temporal_address,
        "--workflow-id",
        workflow_id,
        "--name",
        "trace",
        "--output",
        "json",
    )
    assert '"lookup_price"' in queried.stdout
    assert '"goal": "Headlamp price?"' in queried.stdout


# --- bad input at the client: refused before any workflow starts ---------------------------


async def test_client_refuses_a_task_without_goal(handrail: HandrailClient, client: Client) -> None:
    with pytest.raises(InvalidTaskError, match=r"invalid task: goal: Field required"):
        await handrail.start_task({"profile": "store_support"})
    with pytest.raises(InvalidTaskError, match=r"goal: String should have at least 1 character"):
        await handrail.start_task({"goal": ""})


async def test_client_refuses_an_unknown_profile(handrail: HandrailClient) -> None:
    with pytest.raises(
        UnknownProfileError, match=r"unknown profile 'nope'.*known: store_actions, store_support"
    ):
        await handrail.start_task({"goal": "Headlamp price?", "profile": "nope"})


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        ({"goal": " \n\t "}, r"goal: Value error, the goal is blank"),
        (
            {"goal": "Headlamp price?", "profil": "store_actions"},
            r"profil: Extra inputs are not permitted",
        ),
        ({"goal": "x" * (MAX_GOAL_CHARS + 1)}, r"goal: String should have at most 20000"),
        (
            {"goal": "Headlamp price?", "context": {"notes": "x" * MAX_CONTEXT_BYTES}},
            r"context: Value error, the context is [0-9,]+ bytes as JSON, above the limit of 65,5",
        ),
        ({"goal": "Headlamp price?", "task_id": "a\r\nb"}, r"task_id: String should match"),
    ],
)
async def test_client_refuses_blank_misspelled_and_oversized_input(
    handrail: HandrailClient, task: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidTaskError, match=problem):
        await handrail.start_task(task)


def test_client_refuses_malformed_json() -> None:
    with pytest.raises(InvalidTaskError, match=r"not valid JSON: .* line 1 column 10"):
        parse_task('{"goal": ')
    with pytest.raises(InvalidTaskError, match=r"must be a JSON object"):
        parse_task('["goal"]')
    with pytest.raises(InvalidTaskError, match=r"goal: Input should be a valid string"):
        parse_task('{"goal": 5}')


# --- bad input that reaches the workflow another way: a non-retryable failure ---------------


async def test_workflow_fails_at_once_without_goal(
    client: Client, temporal_address: str, settings: HandrailSettings
) -> None:
    message = await _cli_task_failure(
        client, temporal_address, settings, '{"profile": "store_support"}'
    )
    assert "goal" in message
    assert "Field required" in message


async def test_workflow_fails_at_once_on_wrong_types(
    client: Client, temporal_address: str, settings: HandrailSettings
) -> None:
    message = await _cli_task_failure(client, temporal_address, settings, '{"goal": ["a", "b"]}')
    assert "goal" in message
    assert "valid string" in message


@pytest.mark.parametrize(
    ("payload", "field", "problem"),
    [
        ('{"goal": "   "}', "goal", "the goal is blank"),
        ('{"goal": "Rain Jacket price?", "profil": "store_actions"}', "profil", "Extra inputs"),
        (
            json.dumps({"goal": "x", "context": {"n": "x" * MAX_CONTEXT_BYTES}}),
            "context",
            "above the limit",
        ),
    ],
)
async def test_workflow_fails_at_once_on_blank_misspelled_or_oversized_input(
    client: Client,
    temporal_address: str,
    settings: HandrailSettings,
    payload: str,
    field: str,
    problem: str,
) -> None:
    message = await _cli_task_failure(client, temporal_address, settings, payload)
    assert field in message
    assert problem in message


@pytest.mark.parametrize(
    "payload", ['{"goal": "   "}', '{"goal": "Rain Jacket price?", "profil": "store_actions"}']
)
async def test_bad_input_fails_the_workflow_non_retryably(
    client: Client, temporal_address: str, settings: HandrailSettings, payload: str
) -> None:
    workflow_id = f"cli-bad-{uuid.uuid4().hex[:8]}"
    started = await _cli_start(temporal_address, settings.task_queue, workflow_id, payload)
    assert started.returncode == 0, started.stderr
    with pytest.raises(WorkflowFailureError) as failure:
        await client.get_workflow_handle(workflow_id, result_type=TaskResult).result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.non_retryable
    assert cause.type == "InvalidTask"
    assert cause.message.startswith("invalid task: ")


async def test_workflow_fails_at_once_on_unknown_profile(
    client: Client, temporal_address: str, settings: HandrailSettings, handrail: HandrailClient
) -> None:
    message = await _cli_task_failure(
        client, temporal_address, settings, '{"goal": "Headlamp price?", "profile": "nope"}'
    )
    assert "load_profile failed: unknown profile 'nope'" in message
    assert "/" not in message  # the worker's file paths are none of the caller's business


async def test_get_result_names_the_failure(
    client: Client, temporal_address: str, settings: HandrailSettings, handrail: HandrailClient
) -> None:
    workflow_id = f"cli-bad-{uuid.uuid4().hex[:8]}"
    await _cli_start(
        temporal_address, settings.task_queue, workflow_id, '{"goal": "x", "profile": "nope"}'
    )
    with pytest.raises(
        TaskFailedError, match=rf"task {workflow_id} failed: .*unknown profile 'nope'"
    ):
        await handrail.get_result(workflow_id)


async def test_cli_itself_refuses_malformed_json(
    temporal_address: str, settings: HandrailSettings
) -> None:
    started = await _cli_start(temporal_address, settings.task_queue, "never-started", '{"goal": ')
    assert started.returncode != 0
    assert "json" in started.stderr.lower() or "input" in started.stderr.lower()


def test_pydantic_converter_is_used_by_the_client(client: Client) -> None:
    assert client.data_converter is pydantic_data_converter
