"""What the pydantic-ai store agent's tests share: scripted replies, starting a task, rows."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle

from examples.pydantic_ai_store.agent import WORKFLOW
from examples.pydantic_ai_store.worker import PROFILE
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.contracts import AgentTask, PendingReview, TaskResult, Trace
from handrail.errors import NoWorkerError
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import ToolCallReply

WHY = {"rationale": "the customer is owed it", "confidence": 0.95}


def price(product: str = "Trail Runner") -> ToolCallReply:
    return ToolCallReply("lookup_price", {"product": product, **WHY})


def status(order_id: int = 1001) -> ToolCallReply:
    return ToolCallReply("order_status", {"order_id": order_id, **WHY})


def discount(order_id: int, amount: str) -> ToolCallReply:
    return ToolCallReply(
        "apply_discount", {"order_id": order_id, "amount": amount, "reason": "late", **WHY}
    )


def refund(order_id: int, amount: str) -> ToolCallReply:
    return ToolCallReply(
        "issue_refund", {"order_id": order_id, "amount": amount, "reason": "damaged", **WHY}
    )


async def start(
    client: Client,
    settings: HandrailSettings,
    *,
    context: dict[str, Any] | None = None,
    task_id: str | None = None,
) -> WorkflowHandle[Any, TaskResult]:
    """Start the pydantic-ai store agent on a task about order 1001."""
    task = AgentTask(goal="Order 1001 arrived late", profile=PROFILE, context=context or {})
    return await client.start_workflow(
        WORKFLOW,
        task,
        id=task_id or f"pai-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
        result_type=TaskResult,
    )


def rows(settings: HandrailSettings, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


async def wait_for_pending(
    handrail: HandrailClient, task_id: str, *, timeout: float = 15
) -> PendingReview:
    """Poll the task's trace until a step awaits review (a worker that has just replaced a
    killed one may not answer the first queries: asked again)."""
    deadline = asyncio.get_running_loop().time() + timeout
    trace: Trace | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            trace = await handrail.get_trace(task_id)
        except NoWorkerError:
            continue
        if trace.pending_review is not None:
            return trace.pending_review
        await asyncio.sleep(0.05)
    raise AssertionError(f"no step of {task_id} awaits review: {trace}")


async def approve_answer(handrail: HandrailClient, task_id: str) -> None:
    """Approve the final answer, which a task that changed something always puts to a person."""
    pending = await wait_for_pending(handrail, task_id, timeout=30)
    assert pending.tool == "final_answer", pending
    await handrail.review(
        task_id, {"reviewer": "alice", "step": pending.step, "verdict": "approve"}
    )
