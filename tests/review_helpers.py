"""Shared pieces of the action and review tests: scripted replies, waiting for a pending step."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from handrail.client.core import HandrailClient
from handrail.contracts import PendingReview, Trace
from handrail.review.links import sign_link
from handrail.testing.scripted_model import ToolCallReply

WHY = {"rationale": "the customer is owed it", "confidence": 0.95}
PROFILE = "store_actions"


def refund(order_id: int, amount: str) -> ToolCallReply:
    return ToolCallReply(
        "issue_refund", {"order_id": order_id, "amount": amount, "reason": "damaged", **WHY}
    )


def discount(order_id: int, amount: str) -> ToolCallReply:
    return ToolCallReply(
        "apply_discount", {"order_id": order_id, "amount": amount, "reason": "late", **WHY}
    )


def email(order_id: int) -> ToolCallReply:
    return ToolCallReply(
        "send_email", {"order_id": order_id, "subject": "Sorry", "body": "Refunded.", **WHY}
    )


def answer(text: str = "done") -> ToolCallReply:
    return ToolCallReply("final_answer", {"answer": text, **WHY})


async def wait_for_pending(
    handrail: HandrailClient,
    task_id: str,
    *,
    tier: str | None = None,
    step: int | None = None,
    timeout: float = 15,
) -> PendingReview:
    """Poll the trace until a step awaits review (at ``tier``, and that ``step``, if given)."""
    deadline = asyncio.get_running_loop().time() + timeout
    trace: Trace | None = None
    while asyncio.get_running_loop().time() < deadline:
        trace = await handrail.get_trace(task_id)
        pending = trace.pending_review
        if (
            pending is not None
            and (tier is None or pending.tier == tier)
            and (step is None or pending.step == step)
        ):
            return pending
        await asyncio.sleep(0.05)
    raise AssertionError(f"no step of {task_id} awaits review: {trace}")


def signed_link(
    secret: str, task_id: str, pending: dict[str, Any], *, reviewer: str = "alice"
) -> str:
    """A review link approving ``pending`` (a pending review as the API shows it), signed
    with ``secret`` for ``reviewer``, valid ten minutes: what a notice would carry."""
    return sign_link(
        secret,
        task_id=task_id,
        step=int(pending["step"]),
        verdict="approve",
        fingerprint=str(pending["fingerprint"]),
        reviewer=reviewer,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )
