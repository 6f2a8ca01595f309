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

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any, cast

from pydantic import ValidationError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    TLSConfig,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

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
    InvalidReviewError,
    InvalidTaskError,
    ReviewRefusedError,
    TaskFailedError,
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
from handrail.telemetry import Telemetry, runtime_for

TaskInput = AgentTask | Mapping[str, Any] | str | bytes
ReviewInput = ReviewDecision | Mapping[str, Any]

log = logging.getLogger(__name__)


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

    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        return TLSConfig(
            client_cert=read(settings.temporal_tls_cert),
            client_private_key=read(settings.temporal_tls_key),
            server_root_ca_cert=read(settings.temporal_tls_ca),
        )
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect_temporal(
    settings: HandrailSettings, telemetry: Telemetry | None = None
) -> Client:
    """A Temporal client with Handrail's data converter, from settings (TLS and API key too).

    With ``telemetry``, the client (and any worker built on it) traces workflows and
    activities, and the SDK's runtime metrics are served on Prometheus if configured.
    """
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key.get_secret_value() if api_key else None,
        tls=_tls(settings),
        data_converter=pydantic_data_converter,
        interceptors=telemetry.client_interceptors() if telemetry else [],
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
    async def connect(cls, settings: HandrailSettings) -> HandrailClient:
        return cls(await connect_temporal(settings), settings)

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
        """Wait for the task to finish; ``TaskFailedError`` with Temporal's reason if it failed."""
        handle = self.temporal.get_workflow_handle(task_id, result_type=TaskResult)
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
            trace = await self.get_trace(execution.id)
            if trace.pending_review is not None:
                found.append((execution.id, trace.pending_review))
        return sorted(found, key=lambda item: item[1].requested_at)

    async def review(self, task_id: str, decision: ReviewInput) -> ReviewReceipt:
        """Decide a pending step through the ``review`` update: a stale, unauthorised or
        invalid decision raises ``ReviewRefusedError`` at once, with the reason."""
        review = parse_review(decision)
        handle = self.temporal.get_workflow_handle(task_id)
        try:
            receipt = await handle.execute_update(REVIEW_UPDATE, review, result_type=ReviewReceipt)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            message = getattr(cause, "message", None) or str(cause)
            raise ReviewRefusedError(f"review of {task_id} refused: {message}") from None
        return cast(ReviewReceipt, receipt)

    async def signal_review(self, task_id: str, decision: ReviewInput) -> None:
        """Send a decision as the ``submit_review`` signal (fire and forget: a refused one is
        recorded in the task's trace under ``ignored_reviews``)."""
        handle = self.temporal.get_workflow_handle(task_id)
        await handle.signal(REVIEW_SIGNAL, parse_review(decision))

    async def get_trace(self, task_id: str) -> Trace:
        """The task's decision path so far (works while it runs and after it ends)."""
        handle = self.temporal.get_workflow_handle(task_id)
        return cast(Trace, await handle.query(TRACE_QUERY, TraceRequest(), result_type=Trace))
