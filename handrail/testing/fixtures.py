"""pytest fixtures for an agent on Handrail: ``pytest_plugins = ["handrail.testing.fixtures"]``.

- ``handrail_env``: one Temporal dev server for the test session (``WorkflowEnvironment``);
- ``handrail_client``: its Temporal client, with Handrail's data converter.

Then a worker with your tools is one ``async with agent_worker(...)`` (``handrail.testing.kit``).
Needs ``pytest-asyncio`` with ``asyncio_mode = "auto"`` and ``asyncio_default_fixture_loop_scope``
set; the ``pyproject.toml`` lines are in docs/extending.md, "Testing" (CI runs a project with
exactly those).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from handrail.testing.kit import dev_server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def handrail_env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as env:
        yield env


@pytest.fixture
def handrail_client(handrail_env: WorkflowEnvironment) -> Client:
    return handrail_env.client
