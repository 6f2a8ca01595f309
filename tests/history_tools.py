"""Reading workflow histories in tests: decoded payload text and sizes."""

from __future__ import annotations

import base64
import json
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory


def _payload_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        if "metadata" in node and "data" in node and isinstance(node["data"], str):
            return [base64.b64decode(node["data"]).decode("utf-8", errors="replace")]
        return [text for value in node.values() for text in _payload_texts(value)]
    if isinstance(node, list):
        return [text for value in node for text in _payload_texts(value)]
    return []


def history_text(history: WorkflowHistory) -> str:
    """Every payload of ``history``, decoded, plus the raw JSON: what a reader of the history
    (the UI, an export, a support ticket) could see."""
    raw = history.to_json()
    return "\n".join([raw, *_payload_texts(json.loads(raw))])


def history_bytes(history: WorkflowHistory) -> int:
    """The size of the history as the server stores it (serialized protobuf events)."""
    return sum(event.ByteSize() for event in history.events)


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
