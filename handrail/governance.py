"""Handrail's governance for a workflow Handrail did not write (the public entry point).

An agent built with another framework on Temporal, or any workflow of a team's own, is put
under the same governance as Handrail's own agent: host a :class:`Governor` on the workflow
(``Governor.host(task)``: it registers the reviewer's ``review`` update, ``submit_review``
signal and ``trace`` query), run the agent inside ``governor.govern(...)``, and hand every tool
call the agent proposes to ``governor.propose(...)``. The framework adapters
(``handrail.frameworks``) do the last two for the OpenAI Agents SDK and pydantic-ai.

Workflow code: import it inside the workflow sandbox (it imports no I/O).
"""

from handrail.workflows.effects import RunTool
from handrail.workflows.governor import FRAMEWORK_OUTPUT, Governor, TaskEndedError

__all__ = ["FRAMEWORK_OUTPUT", "Governor", "RunTool", "TaskEndedError"]
