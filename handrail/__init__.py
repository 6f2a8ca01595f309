"""Handrail: run AI agents in production on Temporal: durable, reviewed, reversible, observable.

The public API. Names are imported lazily (PEP 562): the workflow sandbox imports this package
as the parent of ``handrail.workflows``, and must not pull in the client, OpenTelemetry's SDK or
subprocess modules with it (nor a second copy of the contracts beside the passed-through one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handrail.client import HandrailClient, connect_temporal, parse_task
    from handrail.contracts import (
        AgentTask,
        Decision,
        Profile,
        StepRecord,
        TaskResult,
        ToolOutcome,
        Trace,
    )
    from handrail.errors import (
        ConfigurationError,
        HandrailError,
        InvalidProfileError,
        InvalidTaskError,
        RunError,
        TaskFailedError,
        UnknownProfileError,
        UserError,
    )
    from handrail.names import TASK_ID_PREFIX, TRACE_QUERY, WORKFLOW_TYPE
    from handrail.settings import HandrailSettings

_EXPORTS: dict[str, str] = {
    "AgentTask": "handrail.contracts",
    "ConfigurationError": "handrail.errors",
    "Decision": "handrail.contracts",
    "HandrailClient": "handrail.client",
    "HandrailError": "handrail.errors",
    "HandrailSettings": "handrail.settings",
    "InvalidProfileError": "handrail.errors",
    "InvalidTaskError": "handrail.errors",
    "Profile": "handrail.contracts",
    "RunError": "handrail.errors",
    "StepRecord": "handrail.contracts",
    "TASK_ID_PREFIX": "handrail.names",
    "TRACE_QUERY": "handrail.names",
    "TaskFailedError": "handrail.errors",
    "TaskResult": "handrail.contracts",
    "ToolOutcome": "handrail.contracts",
    "Trace": "handrail.contracts",
    "UnknownProfileError": "handrail.errors",
    "UserError": "handrail.errors",
    "WORKFLOW_TYPE": "handrail.names",
    "connect_temporal": "handrail.client",
    "parse_task": "handrail.client",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'handrail' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "TASK_ID_PREFIX",
    "TRACE_QUERY",
    "WORKFLOW_TYPE",
    "AgentTask",
    "ConfigurationError",
    "Decision",
    "HandrailClient",
    "HandrailError",
    "HandrailSettings",
    "InvalidProfileError",
    "InvalidTaskError",
    "Profile",
    "RunError",
    "StepRecord",
    "TaskFailedError",
    "TaskResult",
    "ToolOutcome",
    "Trace",
    "UnknownProfileError",
    "UserError",
    "connect_temporal",
    "parse_task",
]
