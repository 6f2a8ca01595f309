"""``call``: a scripted model's tool call as a test writes it, with the two decision fields
filled in.

Handrail asks the model for a ``rationale`` and a ``confidence`` beside every tool's own
arguments (``handrail.tools.spec``), and the gate reads that confidence: a call without one
counts as unsure, so a supervised action waits for review and a test that did not mean to
review waits with it. ``ToolCallReply`` sends exactly what it is given (tests of malformed
replies need that); ``call`` is for the other tests, so each states only what it is about.
"""

from __future__ import annotations

from typing import Any

from handrail.testing._replies import ToolCallReply
from handrail.tools.spec import CONFIDENCE_FIELD, RATIONALE_FIELD

DEFAULT_CONFIDENCE = 0.9
"""Above the gate's default ``min_confidence`` (0.8): a supervised action runs on its own."""


def call(
    tool: str,
    *,
    confidence: float | None = DEFAULT_CONFIDENCE,
    rationale: str = "the goal says so",
    **arguments: Any,
) -> ToolCallReply:
    """The model calls ``tool`` with ``arguments``, stating ``rationale`` and ``confidence``.

    ``call("final_answer", answer="...")`` and ``call("escalate", reason="...")`` end a task.
    ``confidence=None`` leaves it out, as a model that states none does.
    """
    stated: dict[str, Any] = {RATIONALE_FIELD: rationale}
    if confidence is not None:
        stated[CONFIDENCE_FIELD] = confidence
    return ToolCallReply(tool, {**arguments, **stated})
