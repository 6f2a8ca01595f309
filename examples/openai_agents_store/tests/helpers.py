"""What the tests script and read: the model's tool calls as the SDK's model would send them,
starting the agent's workflow, and the store's rows."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle

from examples.openai_agents_store.workflow import WORKFLOW
from examples.store.settings import store_db_path
from handrail import HandrailSettings
from handrail.client.core import HandrailClient
from handrail.contracts import AgentTask, PendingReview, TaskResult
from handrail.errors import NoWorkerError
from handrail.testing.scripted_model import ToolCallReply

SURE = {"rationale": "the customer is owed it", "confidence": 0.95}
PROFILE = "openai_agents_store"


def call(tool: str, **arguments: Any) -> ToolCallReply:
    return ToolCallReply(tool, {**arguments, **SURE})


def refund(amount: str, order_id: int = 1001) -> ToolCallReply:
    return call("issue_refund", order_id=order_id, amount=amount, reason="damaged")


def discount(amount: str, order_id: int = 1001) -> ToolCallReply:
    return call("apply_discount", order_id=order_id, amount=amount, reason="late")


async def start(
    client: Client,
    settings: HandrailSettings,
    goal: str,
    *,
    context: dict[str, Any] | None = None,
    task_id: str | None = None,
) -> WorkflowHandle[Any, TaskResult]:
    """Start the agent's workflow as a service would (the goal carries the scripted route)."""
    task_id = task_id or f"oa-{uuid.uuid4().hex[:8]}"
    task = AgentTask(task_id=task_id, goal=goal, profile=PROFILE, context=context or {})
    return await client.start_workflow(
        WORKFLOW,
        task,
        id=task_id,
        task_queue=settings.task_queue,
        result_type=TaskResult,
        static_summary=goal[:200],
    )


async def wait_for_pending(
    handrail: HandrailClient, task_id: str, *, timeout: float = 30
) -> PendingReview:
    """Poll the trace until a step awaits review (a query the worker that died had taken
    fails until the fresh one has replayed the task: asked again)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            pending = (await handrail.get_trace(task_id)).pending_review
        except NoWorkerError:
            pending = None
        if pending is not None:
            return pending
        await asyncio.sleep(0.1)
    raise AssertionError(f"no step of {task_id} awaits review")


def rows(settings: HandrailSettings, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()
