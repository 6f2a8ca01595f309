"""What the store's tests script: the clerk's replies as a Scenario writes them, and what a
history shows."""

from __future__ import annotations

import base64
import json
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory

from handrail.testing.scripted_model import ToolCallReply

TEST_API_KEY = "sk-store-test-" + "q1w2e3r4t5y6u7i8o9p0"  # must never show up in a history
WHY = {"rationale": "the customer is owed it", "confidence": 0.95}
PROFILE = "store_actions"


def refund(order_id: int, amount: str) -> ToolCallReply:
    return ToolCallReply(
        "issue_refund", {"order_id": order_id, "amount": amount, "reason": "damaged", **WHY}
    )


def answer(text: str = "done") -> ToolCallReply:
    return ToolCallReply("final_answer", {"answer": text, **WHY})


def history_text(history: WorkflowHistory) -> str:
    """Every payload of ``history``, decoded, plus the raw JSON: what a reader of the history
    could see."""
    raw = history.to_json()
    return "\n".join([raw, *_payload_texts(json.loads(raw))])


def _payload_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        if "metadata" in node and "data" in node and isinstance(node["data"], str):
            return [base64.b64decode(node["data"]).decode("utf-8", errors="replace")]
        return [text for value in node.values() for text in _payload_texts(value)]
    if isinstance(node, list):
        return [text for value in node for text in _payload_texts(value)]
    return []


async def activity_attempts(handle: WorkflowHandle[Any, Any], activity_type: str) -> list[int]:
    """The attempt of each ``activity_type`` activity that reached an outcome, from the history
    (a tool that failed at once shows ``[1]``; one retried twice, ``[3]``)."""
    events = list((await handle.fetch_history()).events)
    scheduled = {
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    }
    return [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
