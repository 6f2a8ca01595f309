"""A workflow Handrail did not write that hosts a governor: it proposes a fixed list of tool
calls (no model, the task's ``context["script"]``), as the simplest foreign agent would, and
answers with what it was told. Its input is an ``AgentTask``, so ``HandrailClient`` starts it
(``HANDRAIL_WORKFLOW``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import AgentTask, Profile, TaskResult
    from handrail.governance import Governor

HOST_WORKFLOW = "ScriptedGovernedAgent"


class ProposedCall(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    confidence: float | None = None


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
                        confidence=call.confidence,
                        rationale="scripted",
                    )
                )
            return " | ".join(told)

        return await self._governor.govern(agent)
