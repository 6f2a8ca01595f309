"""Handrail: run AI agents in production on Temporal: durable, reviewed, reversible, observable.

The public API. Names are imported lazily (PEP 562): the workflow sandbox imports this package
as the parent of ``handrail.workflows``, and must not pull in the client, OpenTelemetry's SDK or
subprocess modules with it (nor a second copy of the contracts beside the passed-through one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handrail.activities.openai_model import OpenAIChatModel
    from handrail.client import HandrailClient, connect_temporal, parse_task
    from handrail.connect import ensure_search_attributes
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
        ReviewRefusedError,
        RunError,
        TaskFailedError,
        UnknownProfileError,
        UserError,
    )
    from handrail.model import ModelAdapter, ModelReply, ModelRequest
    from handrail.names import TASK_ID_PREFIX, TRACE_QUERY, WORKFLOW_TYPE
    from handrail.plugin import HandrailPlugin
    from handrail.profile_catalog import ProfileCatalog
    from handrail.runtime.app import AgentApp
    from handrail.settings import HandrailSettings
    from handrail.storage.engine import Database
    from handrail.telemetry import Telemetry
    from handrail.text_types import PlainText, SingleLine
    from handrail.tools import (
        Compensation,
        Tool,
        ToolContext,
        ToolRefused,
        ToolRegistry,
        ToolSpec,
        UndoContext,
        compensation,
        tool,
    )

_EXPORTS: dict[str, str] = {
    "AgentApp": "handrail.runtime.app",
    "AgentTask": "handrail.contracts",
    "Compensation": "handrail.tools",
    "ConfigurationError": "handrail.errors",
    "Database": "handrail.storage.engine",
    "Decision": "handrail.contracts",
    "HandrailClient": "handrail.client",
    "HandrailError": "handrail.errors",
    "HandrailPlugin": "handrail.plugin",
    "HandrailSettings": "handrail.settings",
    "InvalidProfileError": "handrail.errors",
    "InvalidTaskError": "handrail.errors",
    "ModelAdapter": "handrail.model",
    "ModelReply": "handrail.model",
    "ModelRequest": "handrail.model",
    "OpenAIChatModel": "handrail.activities.openai_model",
    "PlainText": "handrail.text_types",
    "Profile": "handrail.contracts",
    "ProfileCatalog": "handrail.profile_catalog",
    "ReviewRefusedError": "handrail.errors",
    "RunError": "handrail.errors",
    "SingleLine": "handrail.text_types",
    "StepRecord": "handrail.contracts",
    "TASK_ID_PREFIX": "handrail.names",
    "TRACE_QUERY": "handrail.names",
    "TaskFailedError": "handrail.errors",
    "TaskResult": "handrail.contracts",
    "Telemetry": "handrail.telemetry",
    "Tool": "handrail.tools",
    "ToolContext": "handrail.tools",
    "ToolOutcome": "handrail.contracts",
    "ToolRefused": "handrail.tools",
    "ToolRegistry": "handrail.tools",
    "ToolSpec": "handrail.tools",
    "Trace": "handrail.contracts",
    "UndoContext": "handrail.tools",
    "UnknownProfileError": "handrail.errors",
    "UserError": "handrail.errors",
    "WORKFLOW_TYPE": "handrail.names",
    "compensation": "handrail.tools",
    "connect_temporal": "handrail.client",
    "ensure_search_attributes": "handrail.connect",
    "parse_task": "handrail.client",
    "tool": "handrail.tools",
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
    "AgentApp",
    "AgentTask",
    "Compensation",
    "ConfigurationError",
    "Database",
    "Decision",
    "HandrailClient",
    "HandrailError",
    "HandrailPlugin",
    "HandrailSettings",
    "InvalidProfileError",
    "InvalidTaskError",
    "ModelAdapter",
    "ModelReply",
    "ModelRequest",
    "OpenAIChatModel",
    "PlainText",
    "Profile",
    "ProfileCatalog",
    "ReviewRefusedError",
    "RunError",
    "SingleLine",
    "StepRecord",
    "TaskFailedError",
    "TaskResult",
    "Telemetry",
    "Tool",
    "ToolContext",
    "ToolOutcome",
    "ToolRefused",
    "ToolRegistry",
    "ToolSpec",
    "Trace",
    "UndoContext",
    "UnknownProfileError",
    "UserError",
    "compensation",
    "connect_temporal",
    "ensure_search_attributes",
    "parse_task",
    "tool",
]
