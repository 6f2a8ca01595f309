"""The store's test fixtures, on Handrail's public testing kit: the session's dev server
(``handrail_env``, from ``handrail.testing.fixtures``, loaded by ``examples/conftest.py``), one
scripted model server playing the store's clerk, and per test a fresh task queue, data folder,
store database and store worker."""

from __future__ import annotations

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
from examples.store.tests.helpers import TEST_API_KEY
from examples.store.worker import running_worker, store_settings
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.kit import settings_for_test
from handrail.testing.postgres import PostgresNotInstalledError, fresh_database, throwaway_postgres
from handrail.testing.scripted_model import ScriptedModelServer


@pytest.fixture
def client(handrail_client: Client) -> Client:
    return handrail_client


@pytest.fixture
def temporal_address(handrail_env: WorkflowEnvironment) -> str:
    return handrail_env.client.service_client.config.target_host


@pytest.fixture(scope="session")
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(StoreClerk()) as server:
        yield server


@pytest.fixture
def settings(
    tmp_path: Path, client: Client, model_server: ScriptedModelServer
) -> Iterator[HandrailSettings]:
    """Settings for one test: its own task queue and data folder, the scripted clerk (set back
    after the test), and the store's profiles."""
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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session, or the test is skipped, saying why."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres())
        except PostgresNotInstalledError as missing:
            pytest.skip(f"the store's PostgreSQL tests need {missing}")
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped after it)."""
    with fresh_database(postgres_server, prefix="store_test_") as url:
        yield url
