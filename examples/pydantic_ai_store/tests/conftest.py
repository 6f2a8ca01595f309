"""The pydantic-ai store agent's fixtures, on Handrail's public testing kit: the session's dev
server (``handrail_env``), one scripted Chat Completions server (each test sets its script),
and per test a fresh task queue, data folder and store database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from examples.pydantic_ai_store.worker import agent_settings, with_pydantic_ai
from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.tests.helpers import TEST_API_KEY
from handrail.client.core import HandrailClient
from handrail.settings import HandrailSettings
from handrail.testing.kit import settings_for_test
from handrail.testing.scripted_model import ScriptedModelServer, neutral_brain


@pytest.fixture
def client(handrail_client: Client) -> Client:
    """The session's client with pydantic-ai's plugin beside Handrail's converter."""
    return with_pydantic_ai(handrail_client)


@pytest.fixture(scope="session")
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def settings(
    tmp_path: Path, client: Client, model_server: ScriptedModelServer
) -> Iterator[HandrailSettings]:
    """Settings for one test (its own task queue, data folder and store database), the
    scripted model, and this example's profiles."""
    settings = agent_settings(
        settings_for_test(
            client,
            tmp_path / "data",
            openai_base_url=model_server.base_url,
            openai_api_key=SecretStr(TEST_API_KEY),
        )
    )
    create_store(store_db_path(settings))
    yield settings
    model_server.brain = neutral_brain


@pytest.fixture
def handrail(client: Client, settings: HandrailSettings) -> HandrailClient:
    return HandrailClient(client, settings)
