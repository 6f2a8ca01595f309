"""A worker for an app, wired from settings: the model client, the app's plugin, the options.

The worker hosts ``AgentWorkflow`` and every activity on one task queue, so that activities are
dispatched eagerly to the worker that runs the workflow (half the latency of a round trip
through the server's matching service).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.worker import Worker

from handrail.model.openai_chat import OpenAIChatModel
from handrail.plugin import HandrailPlugin
from handrail.runtime.app import BARE_APP, AgentApp
from handrail.settings import HandrailSettings
from handrail.telemetry.core import Telemetry
from handrail.tools.runner import FaultHook, no_faults

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


def app_plugin(
    app: AgentApp,
    settings: HandrailSettings,
    model_client: AsyncOpenAI,
    *,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
) -> HandrailPlugin:
    """``app``'s plugin with the OpenAI-compatible model over ``model_client``; an app without
    a plugin gets Handrail's built-in tools and its profiles' MCP servers."""
    settings = app.settle(settings)
    model = OpenAIChatModel(model_client, logprobs=settings.model_logprobs)
    if app.plugin is None:
        return HandrailPlugin(settings, tools=[], model=model, telemetry=telemetry, faults=faults)
    return app.plugin(settings, model=model, telemetry=telemetry, faults=faults)


def build_worker(
    client: Client,
    settings: HandrailSettings,
    model_client: AsyncOpenAI,
    *,
    app: AgentApp = BARE_APP,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> Worker:
    """A worker for ``app``, wired from ``settings``.

    ``faults`` is the tools' testing seam (see handrail/tools/runner.py); ``telemetry`` adds
    GenAI spans and task metrics (the client brings the tracing interceptor); ``options`` go to
    ``temporalio.worker.Worker`` (e.g. ``max_cached_workflows`` in tests).
    """
    plugin = app_plugin(app, settings, model_client, faults=faults, telemetry=telemetry)
    # The settings' concurrency, cache and graceful-shutdown options; a caller's win.
    options = {**settings.worker_options(), **options}
    return Worker(client, task_queue=settings.task_queue, plugins=[plugin], **options)


@asynccontextmanager
async def running_worker(
    client: Client,
    settings: HandrailSettings,
    *,
    app: AgentApp = BARE_APP,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> AsyncIterator[Worker]:
    """A started worker for the duration of the block; its model client is closed after."""
    model_client = make_openai_client(settings)
    try:
        async with build_worker(
            client, settings, model_client, app=app, faults=faults, telemetry=telemetry, **options
        ) as worker:
            yield worker
    finally:
        await model_client.close()
