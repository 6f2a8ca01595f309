"""The client API for other services: start a task, wait for its result, read its trace.

```python
settings = HandrailSettings()
handrail = await HandrailClient.connect(settings)
handle = await handrail.start_task({"goal": "How much is the Rain Jacket?"})
result = await handrail.get_result(handle.id)
```

Bad input is refused here, before any workflow starts, with an error that names the field
(``handrail.client.task_input``). Connecting to Temporal lives in
``handrail.client.connection``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final, cast

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from handrail.client.connection import connect_temporal, connection_error, ensure_search_attributes
from handrail.client.history import trace_from_history, worker_polls
from handrail.client.pending import list_pending
from handrail.client.reuse import StartOutcome, reused_id, same_task, started_as
from handrail.client.task_input import ReviewInput, TaskInput, parse_review, parse_task
from handrail.contracts import (
    AgentTask,
    PendingReview,
    ReviewReceipt,
    TaskResult,
    Trace,
    TraceRequest,
)
from handrail.errors import (
    InvalidTaskError,
    NoWorkerError,
    ReviewRefusedError,
    TaskFailedError,
    UnknownTaskError,
)
from handrail.names import (
    REVIEW_SIGNAL,
    REVIEW_UPDATE,
    TASK_ID_PREFIX,
    TRACE_QUERY,
)
from handrail.profiles.catalog import ProfileCatalog
from handrail.runtime.app import resolve_app
from handrail.settings import HandrailSettings
from handrail.telemetry.core import Telemetry

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "QUERY_TIMEOUT",
    "STARTER_MEMO",
    "WORKER_GRACE",
    "HandrailClient",
    "ReviewInput",
    "StartOutcome",
    "TaskInput",
    "connect_temporal",
    "connection_error",
    "ensure_search_attributes",
    "parse_review",
    "parse_task",
    "same_task",
]

log = logging.getLogger(__name__)

# How long a trace query may wait for a worker: a live one answers in milliseconds; past this the
# worker the server last saw has most likely stopped.
QUERY_TIMEOUT: Final = timedelta(seconds=5)
_NO_WORKER_ANSWERED = (
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.FAILED_PRECONDITION,
)
# How long a running task may go without a worker polling its queue before we say so.
WORKER_GRACE: Final = timedelta(seconds=3)
_WORKER_RECHECK_SECONDS: Final = 0.2
DEFAULT_TASK_QUEUE: Final[str] = HandrailSettings.model_fields["task_queue"].default
STARTER_MEMO: Final = "HandrailStarter"
"""The memo key naming who started a task through the HTTP gateway (a service's name). Set
by the gateway in the start request, never from the task input, so a caller cannot claim
another's task; a memo because it needs no registration and survives continue-as-new."""


class HandrailClient:
    """Start and follow agent tasks. Thin: everything durable happens in the workflow."""

    def __init__(
        self,
        client: Client,
        settings: HandrailSettings,
        *,
        profiles: ProfileCatalog | None = None,
    ) -> None:
        """``profiles``: the catalog a start is checked against (an unknown profile is refused
        before any workflow starts); default: the settings' profile folders, and those of the
        app ``HANDRAIL_APP`` names (and its default profile), as its workers see them."""
        if settings.app:
            settings = resolve_app(settings).settle(settings)
        self.temporal = client
        self.settings = settings
        self._profiles = profiles or ProfileCatalog(settings.profile_folders)

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
        handle, _ = await self.start_task_once(task)
        return handle

    async def start_task_once(
        self, task: TaskInput, *, starter: str | None = None
    ) -> tuple[WorkflowHandle[Any, TaskResult], bool]:
        """``start_task``, also telling whether this call started the task (``False``: its
        ``task_id`` already ran or runs, and the handle is that run's), so that an HTTP
        gateway can answer a retried request differently from the first. ``starter``: who
        starts it, recorded in the task's memo (``STARTER_MEMO``)."""
        agent_task = self.complete_task(task)
        self._profiles.load(agent_task.profile)  # UnknownProfileError / InvalidProfileError
        task_id = agent_task.task_id or f"{TASK_ID_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            handle = await self.temporal.start_workflow(
                self.settings.workflow,
                agent_task,
                id=task_id,
                task_queue=self.settings.task_queue,
                result_type=TaskResult,
                # A second start of the id, running or closed, raises instead of starting:
                # that is how this call knows whether it started the task.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=agent_task.goal[:200],
                memo={STARTER_MEMO: starter} if starter is not None else None,
            )
        except WorkflowAlreadyStartedError:
            return self.temporal.get_workflow_handle(task_id, result_type=TaskResult), False
        return handle, True

    async def start_or_join(
        self, task: TaskInput
    ) -> tuple[WorkflowHandle[Any, TaskResult], StartOutcome]:
        """``start_task`` for a caller that must say what happened: ``"started"``, or, when the
        ``task_id`` already ran the SAME task (goal, profile and context), ``"running"`` or
        ``"finished"`` with that run's handle. An id that ran another task raises
        ``TaskIdReusedError``: nothing new started, and nothing may pretend it did."""
        agent_task = self.complete_task(task)
        handle, started = await self.start_task_once(agent_task)
        if started:
            return handle, "started"
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:  # gone since (retention): start again
                return await self.start_or_join(agent_task)
            raise
        started_with = await started_as(self.temporal, handle, self.settings.workflow)
        if not same_task(started_with, agent_task):
            raise reused_id(handle.id, description.status)
        running = description.status == WorkflowExecutionStatus.RUNNING
        return handle, "running" if running else "finished"

    def complete_task(self, task: TaskInput) -> AgentTask:
        """``task`` parsed (``InvalidTaskError``), naming the settings' default profile if it
        names none: the workflow's input, its trace and the ledger then say which profile ran,
        and a retry of the same task compares equal to the first (``same_task``)."""
        agent_task = parse_task(task)
        if agent_task.profile:
            return agent_task
        if self.settings.default_profile is None:
            raise InvalidTaskError(
                "the task names no profile and no default is set: give 'profile' "
                f"(known: {', '.join(self._profiles.names()) or 'none'}) or set "
                "HANDRAIL_DEFAULT_PROFILE"
            )
        return agent_task.model_copy(update={"profile": self.settings.default_profile})

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

    async def pending_reviews(
        self,
        *,
        tier: str | None = None,
        tool: str | None = None,
        task_queue: str | None = None,
        on_no_worker: Callable[[str, str], None] | None = None,
    ) -> list[tuple[str, PendingReview]]:
        """Tasks waiting for a reviewer, oldest request first (a visibility query, then each
        task's trace for the details); only those at ``tier``, for ``tool``, on ``task_queue``
        when given (default: every task queue of the namespace). A task no worker answers for
        is left out, and ``on_no_worker(task_id, task_queue)`` told of it (default: a warning
        logged per task)."""
        return await list_pending(
            self.temporal,
            self.get_trace,
            tier=tier,
            tool=tool,
            task_queue=task_queue,
            on_no_worker=on_no_worker,
        )

    async def review(
        self, task_id: str, decision: ReviewInput, *, update_id: str | None = None
    ) -> ReviewReceipt:
        """Decide a pending step through the ``review`` update: a stale, unauthorised or
        invalid decision raises ``ReviewRefusedError`` at once, with the reason and its
        ``error_type`` (``ErrorType.REVIEW_*``). ``update_id``: the same id sent again joins
        the first update (or returns its receipt) instead of deciding anew."""
        review = parse_review(decision)
        handle = self.temporal.get_workflow_handle(task_id)
        try:
            receipt = await handle.execute_update(
                REVIEW_UPDATE, review, id=update_id, result_type=ReviewReceipt
            )
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
                # client as CANCELLED ("Timeout expired") when its deadline passes first; or the
                # server already knows and says FAILED_PRECONDITION ("no poller seen for task
                # queue recently").
                if error.status not in _NO_WORKER_ANSWERED:
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
