"""What a task's history says without a worker: whether a worker polls, and a closed task's trace.

The ``trace`` query needs a worker to replay the workflow; with none polling, the server holds the
query until it times out. A closed task's start and close events hold what a person asks for
(goal, profile, steps, answer, status, error), so :func:`trace_from_history` builds the trace from
those two events, and :func:`worker_polls` tells whether asking a worker is worth a try.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle, WorkflowHistoryEventFilterType
from temporalio.service import RPCError, RPCStatusCode

from handrail.contracts import AgentTask, TaskResult, Trace

# A live worker long-polls again at least once a minute (the server ends an idle poll after
# 60 s), so the server's last sighting of it is never older than that. The server keeps listing a
# stopped worker for minutes, which is why the time matters and not the presence.
POLLER_FRESH_FOR: Final = timedelta(seconds=90)

_DEFAULT_PROFILE: Final[str] = AgentTask.model_fields["profile"].default


async def worker_polls(client: Client, task_queue: str) -> bool:
    """Whether a worker has polled ``task_queue`` for workflow tasks within
    :data:`POLLER_FRESH_FOR` (a hint: it may have stopped since)."""
    try:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except RPCError as error:
        if error.status == RPCStatusCode.UNIMPLEMENTED:
            # The time-skipping test server has no DescribeTaskQueue: assume a worker, and let
            # the query's timeout tell otherwise.
            return True
        raise
    cutoff = datetime.now(UTC) - POLLER_FRESH_FOR
    return any(
        poller.last_access_time.ToDatetime(tzinfo=UTC) >= cutoff for poller in response.pollers
    )


async def _first_event(handle: WorkflowHandle[Any, Any], close: bool) -> HistoryEvent:
    events = handle.fetch_history_events(
        page_size=1,
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
        if close
        else WorkflowHistoryEventFilterType.ALL_EVENT,
    )
    async for event in events:
        return event
    raise LookupError(f"workflow {handle.id} has no {'close' if close else 'start'} event")


async def _goal_and_profile(client: Client, event: HistoryEvent) -> tuple[str, str]:
    payloads = event.workflow_execution_started_event_attributes.input.payloads
    if not payloads:
        return "", _DEFAULT_PROFILE
    # Decoded as plain JSON, not as AgentTask: a task that failed validation must still show.
    [data] = await client.data_converter.decode(payloads[:1], [dict[str, Any]])
    try:
        task = AgentTask.model_validate(data)
    except ValidationError:
        goal, profile = data.get("goal"), data.get("profile")
        return str(goal or ""), str(profile or _DEFAULT_PROFILE)
    return task.goal, task.profile


async def trace_from_history(client: Client, handle: WorkflowHandle[Any, Any]) -> Trace:
    """The trace of a closed task from its start and close events, with no worker involved.

    A completed task's result carries every step; a failed one's close event carries only the
    reason, so its trace has the error and no steps (the ``trace`` query, with a worker, has them).
    """
    goal, profile = await _goal_and_profile(client, await _first_event(handle, close=False))
    trace = Trace(task_id=handle.id, goal=goal, profile=profile, status="failed")
    close = await _first_event(handle, close=True)
    kind = close.event_type
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        payloads = close.workflow_execution_completed_event_attributes.result.payloads
        [result] = await client.data_converter.decode(payloads[:1], [TaskResult])
        return trace.model_copy(
            update={
                "status": result.status,
                "answer": result.answer,
                "steps": result.steps,
                "compensations": result.compensations,
            }
        )
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        error = close.workflow_execution_failed_event_attributes.failure.message
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
        return trace.model_copy(update={"status": "cancelled", "error": "cancelled"})
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
        reason = close.workflow_execution_terminated_event_attributes.reason
        error = f"terminated{': ' + reason if reason else ''}"
    elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
        error = "timed out (workflow execution timeout)"
    else:
        error = f"closed by {EventType.Name(kind)}"
    return trace.model_copy(update={"error": error})
