"""Tools: declared once (``@tool``, ``@compensation``), registered by name, run as activities.

- ``handrail.tools.spec``: what the model and the policy know of a tool (``ToolSpec``);
- ``handrail.tools.declare``: the ``@tool`` and ``@compensation`` decorators;
- ``handrail.tools.money``: ``Money``, an amount argument the policy's money limits read;
- ``handrail.tools.registry``: the tools a worker can run;
- ``handrail.tools.runner``: the activities that run them, exactly once through the effect
  journal.
"""

from handrail.tools.declare import (
    Compensation,
    Tool,
    ToolContext,
    ToolRefused,
    UndoContext,
    compensation,
    tool,
)
from handrail.tools.money import Money
from handrail.tools.registry import ToolRegistry
from handrail.tools.spec import (
    CONFIDENCE_FIELD,
    RATIONALE_FIELD,
    ToolSpec,
    function_schema,
)

__all__ = [
    "CONFIDENCE_FIELD",
    "RATIONALE_FIELD",
    "Compensation",
    "Money",
    "Tool",
    "ToolContext",
    "ToolRefused",
    "ToolRegistry",
    "ToolSpec",
    "UndoContext",
    "compensation",
    "function_schema",
    "tool",
]
