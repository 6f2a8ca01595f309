"""The client API for other services: start a task, wait for its result, read its trace.

```python
settings = HandrailSettings()
handrail = await HandrailClient.connect(settings)
handle = await handrail.start_task({"goal": "How much is the Rain Jacket?"})
result = await handrail.get_result(handle.id)
```

Bad input is refused here, before any workflow starts, with an error that names the field.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final, cast

from pydantic import ValidationError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    TLSConfig,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from handrail import search_attributes
from handrail.contracts import (
    AgentTask,
    PendingReview,
    ReviewDecision,
    ReviewReceipt,
    TaskResult,
    Trace,
    TraceRequest,
)
from handrail.errors import (
    ConfigurationError,
    InvalidReviewError,
    InvalidTaskError,
    NoWorkerError,
    ReviewRefusedError,
    TaskFailedError,
    UnknownTaskError,
    UserError,
    describe_validation_error,
)
from handrail.names import (
    REVIEW_SIGNAL,
    REVIEW_UPDATE,
    TASK_ID_PREFIX,
    TRACE_QUERY,
    WORKFLOW_TYPE,
)
from handrail.profile_catalog import ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.task_history import trace_from_history, worker_polls
from handrail.telemetry import Telemetry, runtime_for

TaskInput = AgentTask | Mapping[str, Any] | str | bytes
ReviewInput = ReviewDecision | Mapping[str, Any]

log = logging.getLogger(__name__)

# How long a trace query may wait for a worker: a live one answers in milliseconds; past this the
# worker the server last saw has most likely stopped.
QUERY_TIMEOUT: Final = timedelta(seconds=5)
# How long a running task may go without a worker polling its queue before we say so.
WORKER_GRACE: Final = timedelta(seconds=3)
_WORKER_RECHECK_SECONDS: Final = 0.2
DEFAULT_TASK_QUEUE: Final[str] = HandrailSettings.model_fields["task_queue"].default


def parse_task(data: TaskInput) -> AgentTask:
    """An ``AgentTask`` from a model, a mapping or JSON text; ``InvalidTaskError`` otherwise."""
    if isinstance(data, AgentTask):
        return data
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise InvalidTaskError(
                f"task input is not valid JSON: {error.msg} at line {error.lineno} "
                f"column {error.colno}"
            ) from None
        if not isinstance(data, dict):
            raise InvalidTaskError('task input must be a JSON object such as {"goal": "..."}')
    try:
        return AgentTask.model_validate(data)
    except ValidationError as error:
        raise InvalidTaskError(describe_validation_error("task", error)) from None


def _tls(settings: HandrailSettings) -> bool | TLSConfig:
    def read(path: Any) -> bytes | None:
        return path.read_bytes() if path else None

    if settings.temporal_tls_reason is None:
        if settings.temporal_tls_cert or settings.temporal_tls_ca:
            # Refused rather than ignored: certificate files mean the user expects TLS.
            raise ConfigurationError(
                "HANDRAIL_TEMPORAL_TLS=false, yet HANDRAIL_TEMPORAL_TLS_CERT or _TLS_CA is set: "
                "unset the files to connect in plaintext, or turn TLS on"
            )
        return False
    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        return TLSConfig(
            client_cert=read(settings.temporal_tls_cert),
            client_private_key=read(settings.temporal_tls_key),
            server_root_ca_cert=read(settings.temporal_tls_ca),
        )
    return True


def connection_error(settings: HandrailSettings, error: Exception) -> UserError:
    """The error to show when connecting to Temporal failed with ``error`` (the SDK reports an
    unreachable server as ``RuntimeError``): it names the address and, with TLS on, why TLS is on
    and how to turn it off, since a TLS client against a plaintext server fails the same way."""
    address = settings.temporal_address
    reason = settings.temporal_tls_reason
    if reason is not None:
        return ConfigurationError(
            f"cannot connect to Temporal at {address} over TLS (TLS is on because {reason}): "
            f"{error}; if that server speaks plaintext (a local dev server does), set "
            "HANDRAIL_TEMPORAL_TLS=false"
        )
    return UserError(
        f"cannot reach Temporal at {address} ({error}); start one with "
        "`python starter.py server` and a worker with `python worker.py`"
    )


async def connect_temporal(
    settings: HandrailSettings, telemetry: Telemetry | None = None
) -> Client:
    """A Temporal client with Handrail's data converter, from settings (TLS and API key too).

    The client (and any worker built on it) always traces workflows and activities: with
    ``telemetry``'s tracer, else with the process's global one (a no-op unless the application
    set one up, yet it still passes the caller's current span on to the workflow). With
    ``telemetry``, the SDK's runtime metrics are also served on Prometheus if configured.
    """
    # Always installed: the contrib interceptor makes workflow spans only under a client span,
    # so a task started without it would leave every activity a trace of its own.
    tracing = telemetry or Telemetry.ambient()
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key.get_secret_value() if api_key else None,
        tls=_tls(settings),
        data_converter=pydantic_data_converter,
        interceptors=tracing.client_interceptors(),
        runtime=runtime_for(settings) if telemetry else None,
    )


def parse_review(data: ReviewInput) -> ReviewDecision:
    """A ``ReviewDecision`` from a model or mapping; ``InvalidReviewError`` names the field."""
    if isinstance(data, ReviewDecision):
        return data
    try:
        return ReviewDecision.model_validate(data)
    except ValidationError as error:
        raise InvalidReviewError(describe_validation_error("review", error)) from None


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register Handrail's search attributes in the client's namespace if missing; returns the
    names it added. Best effort: where the API is not allowed (Temporal Cloud registers them
    through its own console or `tcld`), it logs what to do instead."""
    namespace = client.namespace
    wanted = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in search_attributes.ALL
    }
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {k: v for k, v in wanted.items() if k not in existing.custom_attributes}
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
    except RPCError as error:
        log.warning(
            "could not check or register search attributes %s in namespace %s (%s); register "
            "them before starting tasks that need review",
            sorted(wanted),
            namespace,
            error.message,
        )
        return []
    return sorted(missing)


class HandrailClient:
    """Start and follow agent tasks. Thin: everything durable happens in the workflow."""

    def __init__(self, client: Client, settings: HandrailSettings) -> None:
        self.temporal = client
        self.settings = settings
        self._profiles = ProfileCatalog(settings.profiles_dir)

    @classmethod
    async def connect(
        cls, settings: HandrailSettings, telemetry: Telemetry | None = None
    ) -> HandrailClient:
        """Connect with ``connect_temporal``: pass the process's ``Telemetry`` so that the
        client span that starts each task's trace is exported with the rest."""
        return cls(await connect_temporal(settings, telemetry), settings)

    async def start_task(self, task: TaskInput) -> WorkflowHandle[Any, TaskResult]:
        """Validate ``task`` and start it. Starting a ``task_id`` that already ran returns the
        existing run's handle: the task runs once."""
        agent_task = parse_task(task)
        self._profiles.load(agent_task.profile)  # UnknownProfileError / InvalidProfileError
        task_id = agent_task.task_id or f"{TASK_ID_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            return await self.temporal.start_workflow(
                WORKFLOW_TYPE,
                agent_task,
                id=task_id,
                task_queue=self.settings.task_queue,
                result_type=TaskResult,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=agent_task.goal[:200],
            )
        except WorkflowAlreadyStartedError:
            return self.temporal.get_workflow_handle(task_id, result_type=TaskResult)

    async def get_result(self, task_id: str) -> TaskResult:
        """Wait for the task to finish; ``TaskFailedError`` with Temporal's reason if it failed.

        A finished task's result comes from its history, worker or not. A running task whose
        task queue no worker polls raises ``NoWorkerError`` at once instead of waiting forever.
        """
        handle = self.temporal.get_workflow_handle(task_id, result_type=TaskResult)
        running, task_queue = await self._state(handle)
        if running and not await self._worker_polls(task_queue):
            raise self._no_worker(task_id, task_queue)
        try:
            return cast(TaskResult, await handle.result())
        except WorkflowFailureError as error:
            cause = error.cause
            message = getattr(cause, "message", None) or str(cause)
            raise TaskFailedError(f"task {task_id} failed: {message}") from error

    async def pending_reviews(self) -> list[tuple[str, PendingReview]]:
        """Tasks waiting for a reviewer, oldest request first (a visibility query, then each
        task's trace for the details)."""
        found: list[tuple[str, PendingReview]] = []
        query = f"{search_attributes.PENDING_QUERY} AND ExecutionStatus = 'Running'"
        async for execution in self.temporal.list_workflows(query):
            try:
                trace = await self.get_trace(execution.id)
            except NoWorkerError as error:
                # One task queue without a worker must not hide every other pending review.
                log.warning("cannot list a pending review: %s", error)
                continue
            if trace.pending_review is not None:
                found.append((execution.id, trace.pending_review))
        return sorted(found, key=lambda item: item[1].requested_at)

    async def review(self, task_id: str, decision: ReviewInput) -> ReviewReceipt:
        """Decide a pending step through the ``review`` update: a stale, unauthorised or
        invalid decision raises ``ReviewRefusedError`` at once, with the reason and its
        ``error_type`` (``ErrorType.REVIEW_*``)."""
        review = parse_review(decision)
        handle = self.temporal.get_workflow_handle(task_id)
        try:
            receipt = await handle.execute_update(REVIEW_UPDATE, review, result_type=ReviewReceipt)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            message = getattr(cause, "message", None) or str(cause)
            raise ReviewRefusedError(
                f"review of {task_id} refused: {message}", getattr(cause, "type", None)
            ) from None
        return cast(ReviewReceipt, receipt)

    async def signal_review(self, task_id: str, decision: ReviewInput) -> None:
        """Send a decision as the ``submit_review`` signal (fire and forget: a refused one is
        recorded in the task's trace under ``ignored_reviews``)."""
        handle = self.temporal.get_workflow_handle(task_id)
        await handle.signal(REVIEW_SIGNAL, parse_review(decision))

    async def get_trace(self, task_id: str) -> Trace:
        """The task's decision path so far (works while it runs and after it ends).

        From the ``trace`` query when a worker polls the task's queue (it has everything, also
        for a failed task); for a closed task with no worker, from its history; for a running
        task with no worker, ``NoWorkerError``.
        """
        handle = self.temporal.get_workflow_handle(task_id)
        running, task_queue = await self._state(handle)
        if await self._worker_polls(task_queue, wait=running):
            try:
                return cast(
                    Trace,
                    await handle.query(
                        TRACE_QUERY, TraceRequest(), result_type=Trace, rpc_timeout=QUERY_TIMEOUT
                    ),
                )
            except RPCError as error:
                # The worker the server last saw may have stopped since: the query waits for a
                # worker until the timeout, which the server reports as DEADLINE_EXCEEDED, or the
                # client as CANCELLED ("Timeout expired") when its deadline passes first.
                if error.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                    raise
        if running:
            raise self._no_worker(task_id, task_queue)
        return await trace_from_history(self.temporal, handle)

    async def _state(self, handle: WorkflowHandle[Any, Any]) -> tuple[bool, str]:
        """Whether the task is running, and its task queue (``UnknownTaskError`` if none)."""
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise UnknownTaskError(
                    f"no task {handle.id!r} in namespace {self.temporal.namespace!r}"
                ) from None
            raise
        return description.status == WorkflowExecutionStatus.RUNNING, description.task_queue

    async def _worker_polls(self, task_queue: str, *, wait: bool = True) -> bool:
        """Whether a worker polls ``task_queue``; with ``wait``, asked again for up to
        ``WORKER_GRACE``, because a worker that has just started polls a moment later."""
        deadline = time.monotonic() + (WORKER_GRACE.total_seconds() if wait else 0)
        while not await worker_polls(self.temporal, task_queue):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_WORKER_RECHECK_SECONDS)
        return True

    @staticmethod
    def _no_worker(task_id: str, task_queue: str) -> NoWorkerError:
        return NoWorkerError(
            f"task {task_id} is running but no worker polls task queue {task_queue!r}: "
            "start one with `python worker.py`"
            + (f" (HANDRAIL_TASK_QUEUE={task_queue})" if task_queue != DEFAULT_TASK_QUEUE else "")
        )
