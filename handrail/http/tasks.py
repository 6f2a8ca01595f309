"""``/tasks``: start a task (idempotently), follow it, read its trace."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Header, Path, Response
from temporalio.client import WorkflowExecutionStatus

from handrail.client.reuse import same_task, started_as
from handrail.contracts import AgentTask, Trace
from handrail.errors import NoWorkerError, TaskFailedError
from handrail.http.auth import Principal, require
from handrail.http.errors import ApiError, error_responses
from handrail.http.gateway import Gateway, api_caller, gateway_of
from handrail.http.models import TaskCreated, TaskLinks, TaskView
from handrail.names import TASK_ID_PREFIX

router = APIRouter(tags=["tasks"])

_KEY: Final = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, as HTTP header tokens are
TaskId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Caller = Annotated[Principal, Depends(api_caller)]
Shared = Annotated[Gateway, Depends(gateway_of)]


def links(gateway: Gateway, task_id: str) -> TaskLinks:
    return TaskLinks(
        self=f"/tasks/{task_id}",
        trace=f"/tasks/{task_id}/trace",
        inbox=f"/inbox/tasks/{task_id}",
        temporal_ui=gateway.settings.ui_url(task_id),
    )


def task_id_for_key(service: str, key: str) -> str:
    """The workflow id an idempotency key stands for. Scoped by the calling service, so two
    services that both send key ``1`` start two tasks; hashed, so a key of any shape makes a
    well-formed id and says nothing about the caller's data."""
    digest = hashlib.sha256(f"{service}\0{key}".encode()).hexdigest()
    return f"{TASK_ID_PREFIX}{digest[:32]}"


@router.post(
    "/tasks",
    status_code=201,
    response_model=TaskCreated,
    responses={200: {"model": TaskCreated}, **error_responses(401, 403, 404, 422, 503)},
    summary="Start a task",
)
async def start_task(
    task: AgentTask,
    response: Response,
    caller: Caller,
    gateway: Shared,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Retrying with the same key starts nothing new: the answer is the "
            "task the first request started (200 instead of 201)."
        ),
    ] = None,
) -> TaskCreated:
    require(caller, "service", "start tasks")
    if task.continued is not None:
        raise ApiError(422, "InvalidRequest", "continued: set by Handrail, never by a caller")
    if idempotency_key is not None:
        if not _KEY.fullmatch(idempotency_key):
            raise ApiError(
                422,
                "InvalidRequest",
                "header Idempotency-Key: 1-255 printable ASCII characters, no spaces",
            )
        if task.task_id is not None:
            raise ApiError(
                422,
                "InvalidRequest",
                "task_id: give a task_id or an Idempotency-Key header, not both",
            )
        task = task.model_copy(update={"task_id": task_id_for_key(caller.name, idempotency_key)})
    task = gateway.handrail.complete_task(task)  # the default profile, as the start records it
    handle, started = await gateway.handrail.start_task_once(task, starter=caller.name)
    if not started:
        # Another deployment's id, or another service's task: 404, not a replay (and not a
        # 422 either, which would tell the caller that the id is taken).
        await gateway.readable(handle.id, caller)
        # A retried request repeats the task; a key reused by mistake (or an id another kind of
        # workflow holds) does not: the same comparison as `starter.py start --task-id`.
        handrail = gateway.handrail
        started_with = await started_as(handrail.temporal, handle, handrail.settings.workflow)
        if not same_task(started_with, task):
            raise ApiError(
                422,
                "IdempotencyKeyReused",
                f"task {handle.id} was started with a different goal, profile or context; "
                "a retry must send the same task (or use a new key)",
            )
        response.status_code = 200
    return TaskCreated(task_id=handle.id, started=started, links=links(gateway, handle.id))


@router.get(
    "/tasks/{task_id}",
    response_model=TaskView,
    responses=error_responses(401, 404, 503),
    summary="A task's status, and its result once it has ended",
)
async def get_task(task_id: TaskId, caller: Caller, gateway: Shared) -> TaskView:
    description = await gateway.readable(task_id, caller)
    view = TaskView(task_id=task_id, status="running", done=False, links=links(gateway, task_id))
    if description.status == WorkflowExecutionStatus.RUNNING:
        try:
            trace = await gateway.handrail.get_trace(task_id)
        except NoWorkerError as error:
            view.error = str(error)
            return view
        view.status = trace.status
        view.pending_review = trace.pending_review
        return view
    view.done = True
    try:
        result = await gateway.handrail.get_result(task_id)
    except TaskFailedError as error:
        view.status, view.error = "failed", str(error)
        return view
    view.status, view.answer, view.result = result.status, result.answer, result
    return view


@router.get(
    "/tasks/{task_id}/trace",
    response_model=Trace,
    responses=error_responses(401, 404, 503),
    summary="A task's decision path so far",
)
async def get_trace(task_id: TaskId, caller: Caller, gateway: Shared) -> Trace:
    await gateway.readable(task_id, caller)
    return await gateway.handrail.get_trace(task_id)
