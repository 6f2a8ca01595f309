"""A workflow Handrail did not write that hosts a governor: it proposes a fixed list of tool
calls (no model), as the simplest foreign agent would, and answers with what it was told."""

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


class ScriptedPlan(BaseModel):
    task: AgentTask
    calls: list[ProposedCall]


@workflow.defn(name=HOST_WORKFLOW)
class ScriptedGovernedAgent:
    @workflow.init
    def __init__(self, plan: ScriptedPlan) -> None:
        self._governor = Governor.host(plan.task)

    @workflow.run
    async def run(self, plan: ScriptedPlan) -> TaskResult:
        async def agent(_profile: Profile) -> str:
            told = []
            for call in plan.calls:
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
