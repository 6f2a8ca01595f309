"""The testing kit users import to test their own agents on Handrail.

- ``FunctionModel``: a model answering from plain Python, in process;
- ``ScriptedModelServer``: a real HTTP server speaking Chat Completions, for the OpenAI adapter;
- ``Scenario``, ``ToolCallReply``, ``TextReply``, ``ErrorReply``: what either one replies;
  ``call(tool, **arguments)``: a ``ToolCallReply`` with the ``rationale`` and ``confidence``
  every call states (``ToolCallReply`` sends only what it is given);
- ``Fault``, ``FaultSchedule``, ``FaultMix``: the model faults the server injects, per step,
  per request or as a seeded random mix;
- ``dev_server``, ``agent_worker``, ``settings_for_test``: a real Temporal dev server and a worker
  with your tools (``handrail.testing.kit``); ``handrail.testing.fixtures`` as pytest fixtures.

Imported lazily: the store example's worker uses the scripted server without loading the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handrail.testing.calls import call
    from handrail.testing.function_model import FunctionModel
    from handrail.testing.kit import agent_worker, dev_server, settings_for_test
    from handrail.testing.scripted_model import (
        ErrorReply,
        Fault,
        FaultMix,
        FaultSchedule,
        Scenario,
        ScriptedModelServer,
        TextReply,
        ToolCallReply,
    )

_EXPORTS = {
    "FunctionModel": "handrail.testing.function_model",
    "agent_worker": "handrail.testing.kit",
    "dev_server": "handrail.testing.kit",
    "settings_for_test": "handrail.testing.kit",
    "ErrorReply": "handrail.testing.scripted_model",
    "Fault": "handrail.testing.scripted_model",
    "FaultMix": "handrail.testing.scripted_model",
    "FaultSchedule": "handrail.testing.scripted_model",
    "Scenario": "handrail.testing.scripted_model",
    "ScriptedModelServer": "handrail.testing.scripted_model",
    "TextReply": "handrail.testing.scripted_model",
    "ToolCallReply": "handrail.testing.scripted_model",
    "call": "handrail.testing.calls",
}
__all__ = [
    "ErrorReply",
    "Fault",
    "FaultMix",
    "FaultSchedule",
    "FunctionModel",
    "Scenario",
    "ScriptedModelServer",
    "TextReply",
    "ToolCallReply",
    "agent_worker",
    "call",
    "dev_server",
    "settings_for_test",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'handrail.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
