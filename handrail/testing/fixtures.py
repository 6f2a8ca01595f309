"""pytest fixtures for an agent on Handrail: ``pytest_plugins = ["handrail.testing.fixtures"]``.

- ``handrail_env``: one Temporal dev server for the test session (``WorkflowEnvironment``);
  with ``HANDRAIL_TEST_TEMPORAL_ADDRESS=HOST:PORT`` set, the server already running there
  instead, used as it is and left running (``dev_server(address=...)``);
- ``handrail_client``: its Temporal client, with Handrail's data converter;
- ``handrail_time_skipping_env``: Temporal's time-skipping test server for the session, for
  review deadlines and retry backoffs (started only if a test asks for it).

Then a worker with your tools is one ``async with agent_worker(...)`` (``handrail.testing.kit``).
Needs ``pytest-asyncio`` with ``asyncio_mode = "auto"`` and ``asyncio_default_fixture_loop_scope``
set; the ``pyproject.toml`` lines are in docs/extending.md, "Testing" (CI runs a project with
exactly those).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Final

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from handrail.testing.kit import dev_server, time_skipping_server

ADDRESS_VARIABLE: Final = "HANDRAIL_TEST_TEMPORAL_ADDRESS"
"""An existing Temporal server for ``handrail_env`` (``HOST:PORT``); unset: a dev server of the
session's own."""


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def handrail_env() -> AsyncIterator[WorkflowEnvironment]:
    # Read here, not in the kit: a test setting is the test runner's, not the library's.
    async with dev_server(address=os.environ.get(ADDRESS_VARIABLE) or None) as env:
        yield env


@pytest.fixture
def handrail_client(handrail_env: WorkflowEnvironment) -> Client:
    return handrail_env.client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def handrail_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as env:
        yield env
