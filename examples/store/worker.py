"""The store agent's worker: Handrail's plugin with the store's tools, on the public API.

Run it from the checkout root with ``python worker.py`` (which hosts this app by default), or
``HANDRAIL_APP=examples.store.app:STORE_APP handrail-worker``. Tests start it with
``running_worker``::

    async with running_worker(client, settings):
        handle = await HandrailClient(client, store_settings(settings)).start_task(...)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.worker import Worker

from examples.store.database import StoreDatabase
from examples.store.settings import DEFAULT_PROFILE, PROFILES, StoreSettings
from examples.store.tools import store_compensations, store_tools
from handrail import HandrailPlugin, HandrailSettings, ModelAdapter, OpenAIChatModel
from handrail.runtime.app import with_profiles
from handrail.runtime.worker import make_openai_client
from handrail.telemetry import Telemetry
from handrail.tools.runner import FaultHook, no_faults


def store_settings(settings: HandrailSettings) -> HandrailSettings:
    """``settings`` with the store's profiles after the user's folders, and its default
    profile where the settings name none (what hosting the store app does)."""
    return with_profiles(settings, (PROFILES,), DEFAULT_PROFILE)


def store_plugin(
    settings: HandrailSettings,
    *,
    model: ModelAdapter,
    telemetry: Telemetry | None = None,
    faults: FaultHook = no_faults,
    store: StoreSettings | None = None,
) -> HandrailPlugin:
    """The store as a Handrail plugin: its tools over its database (``store``, default from
    ``HANDRAIL_STORE_URL``), ``model``, and the settings' profile folders then the store's."""
    settings = store_settings(settings)
    database = StoreDatabase((store or StoreSettings()).target(settings))
    return HandrailPlugin(
        settings,
        tools=store_tools(database),
        compensations=store_compensations(database),
        model=model,
        telemetry=telemetry,
        faults=faults,
        on_worker_stop=[database.aclose],
    )


def build_worker(
    client: Client,
    settings: HandrailSettings,
    model_client: AsyncOpenAI,
    *,
    store: StoreSettings | None = None,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> Worker:
    """A worker for the store on ``settings``' task queue; ``options`` go to ``Worker`` (the
    settings' concurrency and cache options, overridden by these)."""
    model = OpenAIChatModel(model_client, logprobs=settings.model_logprobs)
    plugin = store_plugin(settings, model=model, telemetry=telemetry, faults=faults, store=store)
    options = {**settings.worker_options(), **options}
    return Worker(client, task_queue=settings.task_queue, plugins=[plugin], **options)


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: HandrailSettings,
    *,
    store: StoreSettings | None = None,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    """A started store worker for the duration of the block; its model client closed after."""
    model_client = make_openai_client(settings)
    try:
        async with build_worker(
            client,
            settings,
            model_client,
            store=store,
            faults=faults,
            telemetry=telemetry,
            **options,
        ) as worker:
            yield worker
    finally:
        await model_client.close()
