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

Imported lazily (``handrail._lazy``): a worker that uses the scripted server loads nothing else.
``_EXPORTS`` is the one table; the ``TYPE_CHECKING`` block re-exports each name for type
checkers, and tests/project/test_public_api.py fails when the two disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from handrail.testing.calls import call as call
    from handrail.testing.function_model import FunctionModel as FunctionModel
    from handrail.testing.kit import agent_worker as agent_worker
    from handrail.testing.kit import dev_server as dev_server
    from handrail.testing.kit import settings_for_test as settings_for_test
    from handrail.testing.scripted_model import ErrorReply as ErrorReply
    from handrail.testing.scripted_model import Fault as Fault
    from handrail.testing.scripted_model import FaultMix as FaultMix
    from handrail.testing.scripted_model import FaultSchedule as FaultSchedule
    from handrail.testing.scripted_model import Scenario as Scenario
    from handrail.testing.scripted_model import ScriptedModelServer as ScriptedModelServer
    from handrail.testing.scripted_model import TextReply as TextReply
    from handrail.testing.scripted_model import ToolCallReply as ToolCallReply

_EXPORTS: Final[dict[str, str]] = {
    "call": "handrail.testing.calls",
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
}
__all__ = list(_EXPORTS)

if not TYPE_CHECKING:
    from handrail._lazy import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
