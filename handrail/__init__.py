"""Handrail: run AI agents in production on Temporal: durable, reviewed, reversible, observable.

The public API. The rule for what this package names: what a user needs before they need to
know how Handrail is built, and nothing else (a dozen names at most):

- run Handrail in a worker: ``HandrailPlugin``, ``HandrailSettings``;
- start a task and read how it ended: ``HandrailClient``, ``AgentTask``, ``TaskResult``;
- declare tools: ``tool``, ``compensation``, the ``ToolContext`` and ``UndoContext`` their
  functions receive, ``ToolRefused`` they raise to refuse a call;
- plug in a model: ``ModelAdapter``, and the bundled ``OpenAIChatModel``.

Everything else public is imported from its concept package, never from here:

- ``handrail.tools``: ``Tool``, ``Compensation``, ``ToolSpec``, ``ToolRegistry``;
- ``handrail.contracts``: every payload (``Trace``, ``StepRecord``, ``Decision``, ``Profile``...);
- ``handrail.errors``: the exception tree (``HandrailError``, ``UserError``, ``RunError``...);
- ``handrail.model.adapter``: ``ModelRequest``, ``ModelReply`` (what an adapter takes, gives);
- ``handrail.policy.text_types``: ``PlainText``, ``SingleLine``;
- ``handrail.names``: ``WORKFLOW_TYPE``, ``TRACE_QUERY``, ``TASK_ID_PREFIX``;
- ``handrail.client.core``: ``connect_temporal``, ``parse_task``; ``handrail.client.connection``:
  ``ensure_search_attributes``; ``handrail.profiles.catalog``: ``ProfileCatalog``;
  ``handrail.storage.engine``: ``Database``;
- ``handrail.runtime.app``: ``AgentApp``, what the ready runtime hosts (``HANDRAIL_APP``);
- ``handrail.telemetry.core``: ``Telemetry``, spans and metrics a worker and a client share;
- ``handrail.governance``: ``Governor``, governance any workflow hosts (an agent of another
  framework); ``handrail.frameworks.openai_agents``: the OpenAI Agents SDK adapter (the
  ``openai-agents`` extra); ``handrail.frameworks.pydantic_ai``: the pydantic-ai adapter (the
  ``pydantic-ai`` extra);
- ``handrail.testing``: the testing kit.

Names are imported lazily (PEP 562): the workflow sandbox imports this package as the parent of
``handrail.workflows``, and must not pull in the client, OpenTelemetry's SDK or subprocess
modules with it (nor a second copy of the contracts beside the passed-through one).
``_EXPORTS`` is the one table: it drives ``__getattr__``, ``__all__`` and ``__dir__``. Type
checkers cannot read it, so the ``TYPE_CHECKING`` block names each export once more, as an
explicit re-export; tests/project/test_public_api.py fails when the two disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from handrail.client.core import HandrailClient as HandrailClient
    from handrail.contracts import AgentTask as AgentTask
    from handrail.contracts import TaskResult as TaskResult
    from handrail.model.adapter import ModelAdapter as ModelAdapter
    from handrail.model.openai_chat import OpenAIChatModel as OpenAIChatModel
    from handrail.plugin import HandrailPlugin as HandrailPlugin
    from handrail.settings import HandrailSettings as HandrailSettings
    from handrail.tools import ToolContext as ToolContext
    from handrail.tools import ToolRefused as ToolRefused
    from handrail.tools import UndoContext as UndoContext
    from handrail.tools import compensation as compensation
    from handrail.tools import tool as tool

_EXPORTS: Final[dict[str, str]] = {
    # Run Handrail in a worker.
    "HandrailPlugin": "handrail.plugin",
    "HandrailSettings": "handrail.settings",
    # Start a task and read how it ended.
    "HandrailClient": "handrail.client.core",
    "AgentTask": "handrail.contracts",
    "TaskResult": "handrail.contracts",
    # Declare tools.
    "tool": "handrail.tools",
    "compensation": "handrail.tools",
    "ToolContext": "handrail.tools",
    "UndoContext": "handrail.tools",
    "ToolRefused": "handrail.tools",
    # Plug in a model.
    "ModelAdapter": "handrail.model.adapter",
    "OpenAIChatModel": "handrail.model.openai_chat",
}

__all__ = list(_EXPORTS)

# Hidden from type checkers: a module ``__getattr__`` would make every name, even one this
# package does not export, type as ``Any`` instead of failing the check.
if not TYPE_CHECKING:
    from handrail._lazy import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
