"""Fixtures for the OpenAI Agents SDK store agent: the session's dev server (``handrail_env``,
loaded by ``examples/conftest.py``), one scripted Chat Completions server for the session (each
test routes its own conversation to it), and per test a fresh task queue, data folder, store
database and a client with both plugins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from pydantic import SecretStr
from temporalio.client import Client

from examples.openai_agents_store.worker import agent_settings, with_openai_agents
from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail import HandrailSettings
from handrail.client.core import HandrailClient
from handrail.testing.kit import settings_for_test
from handrail.testing.scripted_model import ScriptedModelServer

API_KEY = "sk-openai-agents-store-test"


@pytest.fixture(scope="session")
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def settings(
    tmp_path: Path, handrail_client: Client, model_server: ScriptedModelServer
) -> HandrailSettings:
    settings = agent_settings(
        settings_for_test(
            handrail_client,
            tmp_path / "data",
            openai_base_url=model_server.base_url,
            openai_api_key=SecretStr(API_KEY),
        )
    )
    create_store(store_db_path(settings))
    return settings


@pytest_asyncio.fixture
async def client(
    handrail_client: Client, model_server: ScriptedModelServer
) -> AsyncIterator[Client]:
    """The session's client with the OpenAI Agents plugin, its model on the scripted server."""
    model = AsyncOpenAI(base_url=model_server.base_url, api_key=API_KEY, max_retries=0)
    try:
        yield with_openai_agents(handrail_client, model)
    finally:
        await model.close()


@pytest.fixture
def handrail(client: Client, settings: HandrailSettings) -> HandrailClient:
    return HandrailClient(client, settings)
