"""Policy: what the workflow may do with a proposed action, decided outside the model.

Pure functions of recorded data, so the workflow can call them deterministically and tests can
call them directly. Issue #5 grows this into the full gate (allowlists, thresholds, autonomy).
"""

from __future__ import annotations

from typing import Literal

from handrail.contracts import ToolBinding

When = Literal["now", "at_commit"]


def when_to_run(binding: ToolBinding) -> When:
    """The irreversibility rule.

    An irreversible action (an email) never runs while a reversible step of the same task can
    still fail, because a later rollback could not take it back. So it is deferred to the task's
    commit point: after the model's final answer, when every reversible action has succeeded.
    Deferred actions run in the order the model asked for them; if the task rolls back first,
    they never run at all. The model is told the action is scheduled, not done.
    """
    return "at_commit" if binding.irreversible else "now"
