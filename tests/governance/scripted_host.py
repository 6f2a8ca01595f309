"""A workflow Handrail did not write that hosts a governor: it proposes a fixed list of tool
calls (no model, the task's ``context["script"]``), as the simplest foreign agent would, and
answers with what it was told. Its input is an ``AgentTask``, so ``HandrailClient`` starts it
(``HANDRAIL_WORKFLOW``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import AgentTask, Profile, TaskResult, ToolCall, ToolOutcome
    from handrail.governance import FRAMEWORK_OUTPUT, Governor

HOST_WORKFLOW = "ScriptedGovernedAgent"


class ProposedCall(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    confidence: float | None = None
    framework: bool = False
    """The host's own tool (the profile's ``framework_tools``): run as the activity of the
    tool's name, as a framework would run its own tool."""


async def run_own_tool(call: ToolCall) -> ToolOutcome:
    """How this host runs a tool of its own: the ``leave_note`` activity (the test's)."""
    output = await workflow.execute_activity(
        "leave_note", call.arguments, result_type=str, start_to_close_timeout=timedelta(seconds=10)
    )
    return ToolOutcome(ok=True, result={FRAMEWORK_OUTPUT: output})


def scripted_task(calls: list[ProposedCall], profile: str) -> dict[str, Any]:
    """The task input that makes the host propose ``calls``."""
    script = [call.model_dump(mode="json") for call in calls]
    return {"goal": "Make it right", "profile": profile, "context": {"script": script}}


@workflow.defn(name=HOST_WORKFLOW)
class ScriptedGovernedAgent:
    @workflow.init
    def __init__(self, task: AgentTask) -> None:
        self._governor = Governor.host(task)

    @workflow.run
    async def run(self, task: AgentTask) -> TaskResult:
        calls = [ProposedCall.model_validate(call) for call in task.context.get("script", [])]

        async def agent(_profile: Profile) -> str:
            told = []
            for call in calls:
                told.append(
                    await self._governor.propose(
                        call.tool,
                        call.arguments,
                        run=run_own_tool if call.framework else None,
                        confidence=call.confidence,
                        rationale="scripted",
                    )
                )
            return " | ".join(told)

        return await self._governor.govern(agent)
