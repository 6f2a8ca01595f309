"""The store agent's worker: Handrail's plugin with the store's tools, on the public API.

Run it from the checkout root with ``python worker.py`` (which hosts this app by default), or
``HANDRAIL_APP=examples.store.app:STORE_APP handrail-worker``. Tests start it with
``running_worker``::

    async with running_worker(client, settings):
        handle = await HandrailClient(client, store_settings(settings)).start_task(...)
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from examples.store.app import STORE_APP
from examples.store.database import StoreDatabase
from examples.store.settings import StoreSettings
from examples.store.tools import store_compensations, store_tools
from handrail import HandrailPlugin, HandrailSettings, ModelAdapter
from handrail.runtime.app import AgentApp
from handrail.runtime.worker import running_worker as running_runtime_worker
from handrail.telemetry.core import Telemetry


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


def _hosting(store: StoreSettings | None) -> AgentApp:
    """The store app, its database ``store`` when given (else ``HANDRAIL_STORE_URL``)."""
    if store is None:
        return STORE_APP
    return replace(STORE_APP, plugin=functools.partial(store_plugin, store=store))


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
    if faults is not None:
        options["faults"] = faults
    async with running_runtime_worker(
        client, settings, app=_hosting(store), telemetry=telemetry, **options
    ) as worker:
        yield worker
