"""Handrail: run AI agents in production on Temporal: durable, reviewed, reversible, observable.

The public API. Names are imported lazily (PEP 562): the workflow sandbox imports this package
as the parent of ``handrail.workflows``, and must not pull in the client, OpenTelemetry's SDK or
subprocess modules with it (nor a second copy of the contracts beside the passed-through one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handrail.client.connection import ensure_search_attributes
    from handrail.client.core import HandrailClient, connect_temporal, parse_task
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
    from handrail.model.adapter import ModelAdapter, ModelReply, ModelRequest
    from handrail.model.openai_chat import OpenAIChatModel
    from handrail.names import TASK_ID_PREFIX, TRACE_QUERY, WORKFLOW_TYPE
    from handrail.plugin import HandrailPlugin
    from handrail.policy.text_types import PlainText, SingleLine
    from handrail.profiles.catalog import ProfileCatalog
    from handrail.settings import HandrailSettings
    from handrail.storage.engine import Database
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
    "AgentTask": "handrail.contracts",
    "Compensation": "handrail.tools",
    "ConfigurationError": "handrail.errors",
    "Database": "handrail.storage.engine",
    "Decision": "handrail.contracts",
    "HandrailClient": "handrail.client.core",
    "HandrailError": "handrail.errors",
    "HandrailPlugin": "handrail.plugin",
    "HandrailSettings": "handrail.settings",
    "InvalidProfileError": "handrail.errors",
    "InvalidTaskError": "handrail.errors",
    "ModelAdapter": "handrail.model.adapter",
    "ModelReply": "handrail.model.adapter",
    "ModelRequest": "handrail.model.adapter",
    "OpenAIChatModel": "handrail.model.openai_chat",
    "PlainText": "handrail.policy.text_types",
    "Profile": "handrail.contracts",
    "ProfileCatalog": "handrail.profiles.catalog",
    "ReviewRefusedError": "handrail.errors",
    "RunError": "handrail.errors",
    "SingleLine": "handrail.policy.text_types",
    "StepRecord": "handrail.contracts",
    "TASK_ID_PREFIX": "handrail.names",
    "TRACE_QUERY": "handrail.names",
    "TaskFailedError": "handrail.errors",
    "TaskResult": "handrail.contracts",
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
    "connect_temporal": "handrail.client.core",
    "ensure_search_attributes": "handrail.client.connection",
    "parse_task": "handrail.client.core",
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
