"""Handrail: run AI agents in production on Temporal: durable, reviewed, reversible, observable.

The public API for services that start and follow agent tasks. Workflow and activity code lives
in the ``workflows`` and ``activities`` packages; this package holds what they share.
"""

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
