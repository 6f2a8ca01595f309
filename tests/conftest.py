"""Shared fixtures: one real Temporal dev server and one scripted model server per session;
a fresh task queue, data folder and worker per test.

The servers are the testing kit's, as users get them (``handrail.testing.fixtures``, registered
with the secrets guard by the repository's root ``conftest.py``): ``handrail_env``,
``handrail_client``, ``handrail_time_skipping_env``. The names below are the tests' own short
ones for the same objects, and what only these tests need on top (the scripted model server,
settings that point at it).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from examples.store.clerk import StoreClerk
from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.worker import running_worker, store_settings
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.kit import settings_for_test
from handrail.testing.postgres import (
    PostgresNotInstalledError,
    fresh_database,
    throwaway_postgres,
)
from handrail.testing.scripted_model import ScriptedModelServer
from tests.secrets_guard import TEST_API_KEY, TEST_TEMPORAL_API_KEY

__all__ = ["TEST_API_KEY", "TEST_TEMPORAL_API_KEY"]  # imported from here by the tests


@pytest.fixture
def skipping_env(handrail_time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """The time-skipping test server: deadlines and retry backoffs pass at once."""
    return handrail_time_skipping_env


@pytest.fixture(scope="session")
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def client(handrail_client: Client) -> Client:
    return handrail_client


@pytest.fixture
def temporal_address(client: Client) -> str:
    return client.service_client.config.target_host


@pytest.fixture
def settings(
    tmp_path: Path, model_server: ScriptedModelServer, client: Client
) -> Iterator[HandrailSettings]:
    """Settings for one test: its own task queue and data folder, the scripted model, and the
    store example's profiles (most tests run the store's agent: its worker is the
    ``worker`` fixture)."""
    model_server.brain = StoreClerk()
    yield store_settings(
        settings_for_test(
            client,
            tmp_path / "data",
            openai_base_url=model_server.base_url,
            openai_api_key=SecretStr(TEST_API_KEY),
        )
    )
    model_server.brain = StoreClerk()


@pytest.fixture
def handrail(client: Client, settings: HandrailSettings) -> HandrailClient:
    return HandrailClient(client, settings)


@pytest_asyncio.fixture
async def worker(client: Client, settings: HandrailSettings) -> AsyncIterator[Worker]:
    create_store(store_db_path(settings))
    async with running_worker(client, settings) as running:
        yield running


# --- PostgreSQL -------------------------------------------------------------------------------

POSTGRES_URL_VARIABLE = "HANDRAIL_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server's URL: ``HANDRAIL_TEST_POSTGRES_URL`` if set; else a throwaway
    cluster (``handrail.testing.postgres``) on a free loopback port, stopped at the end of the
    session; else the test is skipped, saying why."""
    given = os.environ.get(POSTGRES_URL_VARIABLE)
    if given:
        yield given
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres())
        except PostgresNotInstalledError as missing:
            pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_VARIABLE} or {missing}")
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped after it)."""
    with fresh_database(postgres_server, prefix="handrail_test_") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Handrail's state database on each backend: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'handrail.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
