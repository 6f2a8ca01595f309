"""The pydantic-ai store agent's worker: Handrail's plugin with the store's tools and
pydantic-ai's plugin with the agent's activities, on one worker and one client.

Both plugins want pydantic payloads: Handrail's keeps a pydantic payload converter it finds,
pydantic-ai's swaps Temporal's for its own subclass (which also caches its type adapters), so
a client made with both (:func:`connect`, :func:`with_pydantic_ai`) serves both sides, and its
workers inherit pydantic-ai's plugin from it::

    client = with_pydantic_ai(await connect_temporal(settings))
    async with running_worker(client, settings):
        await client.start_workflow(WORKFLOW, AgentTask(...), id=..., task_queue=...)

Run it with ``python -m examples.pydantic_ai_store.worker`` (Temporal and the model from the
same ``HANDRAIL_*`` settings as ``worker.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.client import Client
from temporalio.worker import Worker

from examples.pydantic_ai_store.agent import PydanticAIStoreAgent, bind_model, bind_store
from examples.store.database import StoreDatabase
from examples.store.settings import StoreSettings
from examples.store.worker import store_plugin, store_settings
from handrail import HandrailSettings, OpenAIChatModel
from handrail.client.connection import connect_temporal
from handrail.runtime.app import with_profiles
from handrail.runtime.worker import make_openai_client

PROFILES: Final = Path(__file__).resolve().parent / "profiles"
PROFILE: Final = "pydantic_ai_store"


def agent_settings(settings: HandrailSettings) -> HandrailSettings:
    """``settings`` with this example's profiles after the user's, then the store's."""
    return store_settings(with_profiles(settings, (PROFILES,), PROFILE))


def with_pydantic_ai(client: Client) -> Client:
    """``client`` with pydantic-ai's plugin (its payload converter, which Handrail's contracts
    also travel through); its workers inherit the plugin."""
    config = client.config(active_config=True)
    if any(isinstance(plugin, PydanticAIPlugin) for plugin in config["plugins"]):
        return client
    config["plugins"] = [PydanticAIPlugin()]
    return Client(**config)


async def connect(settings: HandrailSettings) -> Client:
    """A client for this agent: Handrail's connection settings, and pydantic-ai's plugin."""
    return with_pydantic_ai(await connect_temporal(settings))


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: HandrailSettings,
    *,
    store: StoreSettings | None = None,
    faults: Callable[..., None] | None = None,
    workflows: Sequence[type] = (),
    **options: Any,
) -> AsyncIterator[Worker]:
    """A started worker for the pydantic-ai store agent (and ``workflows``, more agents'
    workflows) for the duration of the block."""
    settings = agent_settings(settings)
    model_client = make_openai_client(settings)
    key = settings.openai_api_key
    bind_model(str(model_client.base_url), key.get_secret_value() if key else "unset")
    database = StoreDatabase((store or StoreSettings()).target(settings))
    bind_store(database)
    plugin = store_plugin(
        settings,
        model=OpenAIChatModel(model_client),
        store=store,
        **({"faults": faults} if faults is not None else {}),
    )
    try:
        async with Worker(
            with_pydantic_ai(client),
            task_queue=settings.task_queue,
            plugins=[plugin],
            workflows=[PydanticAIStoreAgent, *workflows],
            **{**settings.worker_options(), **options},
        ) as worker:
            yield worker
    finally:
        await database.aclose()
        await model_client.close()


async def main() -> None:
    settings = HandrailSettings()
    client = await connect(settings)
    async with running_worker(client, settings):
        await asyncio.Event().wait()  # until interrupted


if __name__ == "__main__":
    asyncio.run(main())
