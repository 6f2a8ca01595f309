"""A start whose task id already ran: the same task again (a retry), or another one.

A task id is an idempotency key: starting it again starts nothing. That is right for a retry
of the same task and wrong for a different task under a reused id, which must be told so rather
than answered as if it had started. "The same" is the goal, profile and context the id's run
started with, as the HTTP gateway compares them for an ``Idempotency-Key``.
"""

from __future__ import annotations

from typing import Any, Literal

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from handrail.contracts import AgentTask
from handrail.errors import TaskIdReusedError
from handrail.names import WORKFLOW_TYPE

StartOutcome = Literal["started", "running", "finished"]
"""What a start did: started the task, or found the same task running, or finished."""


def same_task(earlier: AgentTask | None, task: AgentTask) -> bool:
    """Whether ``task`` repeats ``earlier`` (same goal, profile and context)."""
    if earlier is None:
        return False
    return (earlier.goal, earlier.profile, earlier.context) == (
        task.goal,
        task.profile,
        task.context,
    )


async def started_as(
    client: Client, handle: WorkflowHandle[Any, Any], workflow: str = WORKFLOW_TYPE
) -> AgentTask | None:
    """The input the task's newest run started with (None: its history shows none, or the id
    runs another kind of workflow than ``workflow``, the type tasks start as). After a
    continue-as-new that is the carried input, whose goal, profile and context are the
    first's."""
    async for event in handle.fetch_history_events():
        attributes = event.workflow_execution_started_event_attributes
        if attributes.workflow_type.name != workflow:
            return None  # the id belongs to another kind of workflow: never the same task
        try:
            [started] = await client.data_converter.decode(attributes.input.payloads, [AgentTask])
        except (ValueError, TypeError):  # not an AgentTask (pydantic's ValidationError is one)
            return None
        return started if isinstance(started, AgentTask) else None
    return None


def reused_id(task_id: str, status: WorkflowExecutionStatus | None) -> TaskIdReusedError:
    """The error for a start that reused ``task_id`` for another task."""
    if status == WorkflowExecutionStatus.RUNNING:
        state = "running"
    else:
        state = f"finished: {status.name.lower()}" if status is not None else "finished"
    return TaskIdReusedError(
        f"task {task_id} already exists ({state}) with a different goal, profile or context: "
        f"nothing new started; use another task id, or `result {task_id}` for that task",
        task_id=task_id,
    )
