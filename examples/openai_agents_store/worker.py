"""The worker of the OpenAI Agents SDK store agent: Temporal's ``OpenAIAgentsPlugin`` (the
agent's model calls as activities) beside Handrail's plugin (the store's tools, the governor's
activities), on one client and one worker::

    python -m examples.openai_agents_store.worker

Settings come from the environment as for ``worker.py`` (``HANDRAIL_TEMPORAL_ADDRESS``,
``OPENAI_BASE_URL``, ...). The SDK's trace export to api.openai.com is switched off.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from agents import OpenAIProvider, set_trace_processors
from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.contrib.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin
from temporalio.converter import DefaultPayloadConverter
from temporalio.worker import Worker

from examples.openai_agents_store.agent import OrderLookup
from examples.openai_agents_store.workflow import StoreAgentWorkflow
from examples.store.database import StoreDatabase, create_store
from examples.store.settings import StoreSettings
from examples.store.worker import running_worker as running_store_worker
from handrail import HandrailSettings
from handrail.client.core import connect_temporal
from handrail.runtime.app import with_profiles
from handrail.runtime.worker import make_openai_client

PROFILES: Final = Path(__file__).resolve().parent / "profiles"
PROFILE: Final = "openai_agents_store"
MODEL_CALL_TIMEOUT = timedelta(seconds=60)


def agent_settings(settings: HandrailSettings) -> HandrailSettings:
    """``settings`` with this example's profile folder (after the user's) and its profile as
    the default."""
    return with_profiles(settings, (PROFILES,), PROFILE)


def with_openai_agents(client: Client, model: AsyncOpenAI) -> Client:
    """``client`` (Handrail's: TLS, API key, tracing) with the OpenAI Agents plugin, whose
    model calls go to ``model``. The plugin insists on its own payload converter, a pydantic
    one, which Handrail's contracts serialize with too: so the client's goes back to the
    default for the plugin to replace (its codec and failure converter are kept)."""
    set_trace_processors([])  # nothing is sent to api.openai.com
    plugin = OpenAIAgentsPlugin(
        model_params=ModelActivityParameters(start_to_close_timeout=MODEL_CALL_TIMEOUT),
        model_provider=OpenAIProvider(openai_client=model, use_responses=False),
    )
    config = client.config()
    config["data_converter"] = dataclasses.replace(
        config["data_converter"], payload_converter_class=DefaultPayloadConverter
    )
    config["plugins"] = [*config.get("plugins", []), plugin]
    return Client(**config)


@asynccontextmanager
async def running_worker(
    client: Client, settings: HandrailSettings, **options: Any
) -> AsyncIterator[Worker]:
    """A started worker for the block: the agent's workflow and ``order_status`` activity on
    the store's Handrail worker. ``client``: one from :func:`with_openai_agents`."""
    settings = agent_settings(settings)
    database = StoreDatabase(StoreSettings().target(settings))
    lookup = OrderLookup(database)
    try:
        async with running_store_worker(
            client,
            settings,
            workflows=[StoreAgentWorkflow, *options.pop("workflows", [])],
            activities=[lookup.order_status, *options.pop("activities", [])],
            **options,
        ) as worker:
            yield worker
    finally:
        await database.aclose()


async def serve(settings: HandrailSettings, **options: Any) -> None:
    """Run the worker for ``settings`` until the process ends; prints ``ready`` once polling.
    ``options`` go to :func:`running_worker` (e.g. ``faults``, the tools' testing seam)."""
    settings = agent_settings(settings)
    create_store(StoreSettings().target(settings))
    model = make_openai_client(settings)
    client = with_openai_agents(await connect_temporal(settings), model)
    try:
        async with running_worker(client, settings, **options):
            print("ready", flush=True)
            await asyncio.Event().wait()
    finally:
        await model.close()


if __name__ == "__main__":
    asyncio.run(serve(HandrailSettings()))
