"""The testing kit on a Temporal server that already runs: ``dev_server(address=...)`` and the
``handrail_env`` fixture (``HANDRAIL_TEST_TEMPORAL_ADDRESS``) connect to it, start nothing and
stop nothing. The server here is started by the test itself, without Handrail's search
attributes, as a plain ``temporal server start-dev`` would be."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from handrail import search_attributes
from handrail.runtime.devserver import find_temporal_binary
from handrail.testing import FunctionModel, Scenario, ToolCallReply, agent_worker, dev_server
from handrail.testing.fixtures import ADDRESS_VARIABLE

PROFILE = 'name = "plain"\nsystem_prompt = "Answer."\ntools = []\n'
ANSWER = ToolCallReply("final_answer", {"answer": "ok", "rationale": "asked", "confidence": 0.9})


@pytest_asyncio.fixture
async def running_server() -> AsyncIterator[WorkflowEnvironment]:
    """Someone else's server: started here with no search attributes of Handrail's."""
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_temporal_binary())
    )
    try:
        yield server
    finally:
        await server.shutdown()


async def _custom_attributes(client: Client) -> set[str]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return set(listed.custom_attributes)


async def test_dev_server_with_an_address_uses_that_server_and_leaves_it_running(
    running_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = running_server.client.service_client.config.target_host
    assert not {key.name for key in search_attributes.ALL} & await _custom_attributes(
        running_server.client
    )
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "plain.toml").write_text(PROFILE)

    async with dev_server(address=address) as env:
        assert env.client.service_client.config.target_host == address
        # Registered, or the workflow's first upsert would fail its task.
        assert {key.name for key in search_attributes.ALL} <= await _custom_attributes(env.client)
        model = FunctionModel(Scenario([ANSWER]))
        async with agent_worker(
            env.client, tmp_path, tools=[], model=model, profiles=[profiles]
        ) as handrail:
            handle = await handrail.start_task({"goal": "Say ok", "profile": "plain"})
            assert (await handrail.get_result(handle.id)).answer == "ok"

    # Nothing stopped: the server still answers, with the task the kit ran on it.
    description = await running_server.client.get_workflow_handle(handle.id).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED


INNER_TEST = """
import os

from temporalio.client import Client


async def test_the_fixture_uses_the_given_server(handrail_client: Client) -> None:
    given = os.environ["HANDRAIL_TEST_TEMPORAL_ADDRESS"]
    assert handrail_client.service_client.config.target_host == given
    await handrail_client.start_workflow("Marker", id=os.environ["MARKER_ID"], task_queue="none")
"""

INNER_CONFIG = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""


async def test_the_fixture_uses_the_server_the_environment_names(
    running_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A user's own test session (a project of its own, in a subprocess) with the setting."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text(INNER_CONFIG)
    (project / "conftest.py").write_text('pytest_plugins = ["handrail.testing.fixtures"]\n')
    (project / "test_given.py").write_text(textwrap.dedent(INNER_TEST))
    address = running_server.client.service_client.config.target_host
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, ADDRESS_VARIABLE: address, "MARKER_ID": marker}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
        cwd=project,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()

    # The session's workflow is on the given server, which its end did not stop.
    handle = running_server.client.get_workflow_handle(marker)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await handle.terminate(reason="test over")
