"""The store agent's worker: Handrail's plugin with the store's tools, on the public API.

Run it from the checkout root with ``python worker.py`` (which hosts this app by default), or
``HANDRAIL_APP=examples.store.app:STORE_APP handrail-worker``. Tests start it with
``running_worker``::

    async with running_worker(client, settings):
        handle = await HandrailClient(client, store_settings(settings)).start_task(...)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.worker import Worker

from examples.store.app import STORE_APP
from examples.store.database import StoreDatabase
from examples.store.settings import StoreSettings
from examples.store.tools import store_compensations, store_tools
from handrail import HandrailPlugin, HandrailSettings, ModelAdapter, OpenAIChatModel
from handrail.telemetry.core import Telemetry

# The openai client refuses to start without a key; a local endpoint (Ollama, vLLM) ignores it.
_NO_KEY = "no-key-configured"


def store_settings(settings: HandrailSettings) -> HandrailSettings:
    """``settings`` with the store's profiles after the user's folders, and its default
    profile where the settings name none (what hosting the store app does)."""
    return STORE_APP.settle(settings)


def store_plugin(
    settings: HandrailSettings,
    *,
    model: ModelAdapter,
    store: StoreSettings | None = None,
    **plugin_options: Any,
) -> HandrailPlugin:
    """The store as a Handrail plugin: its tools over its database (``store``, default from
    ``HANDRAIL_STORE_URL``), ``model``, and the settings' profile folders then the store's.
    ``plugin_options`` go to ``HandrailPlugin`` (``telemetry``, and ``faults``, the testing
    seam the runtime passes)."""
    settings = store_settings(settings)
    database = StoreDatabase((store or StoreSettings()).target(settings))
    return HandrailPlugin(
        settings,
        tools=store_tools(database),
        compensations=store_compensations(database),
        model=model,
        on_worker_stop=[database.aclose],
        **plugin_options,
    )


def model_client(settings: HandrailSettings) -> AsyncOpenAI:
    """The model endpoint the settings name. ``max_retries=0``: Temporal's retry policy is the
    only retry loop."""
    key = settings.openai_api_key
    return AsyncOpenAI(
        api_key=key.get_secret_value() if key else (_NO_KEY if settings.openai_base_url else None),
        base_url=settings.openai_base_url or None,
        max_retries=0,
        timeout=settings.llm_timeout_seconds,
    )


def build_worker(
    client: Client,
    settings: HandrailSettings,
    openai: AsyncOpenAI,
    *,
    store: StoreSettings | None = None,
    faults: Callable[..., None] | None = None,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> Worker:
    """A worker for the store on ``settings``' task queue, its model over ``openai``;
    ``options`` go to ``Worker`` (the settings' concurrency and cache options, overridden by
    these). ``faults``: Handrail's testing seam for tools (``handrail.tools.runner``)."""
    model = OpenAIChatModel(openai, logprobs=settings.model_logprobs)
    seams: dict[str, Any] = {"faults": faults} if faults is not None else {}
    plugin = store_plugin(settings, model=model, store=store, telemetry=telemetry, **seams)
    options = {**settings.worker_options(), **options}
    return Worker(client, task_queue=settings.task_queue, plugins=[plugin], **options)


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: HandrailSettings,
    *,
    store: StoreSettings | None = None,
    faults: Callable[..., None] | None = None,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    """A started store worker for the duration of the block; its model client closed after."""
    openai = model_client(settings)
    try:
        async with build_worker(
            client,
            settings,
            openai,
            store=store,
            faults=faults,
            telemetry=telemetry,
            **options,
        ) as worker:
            yield worker
    finally:
        await openai.close()
