"""A second pydantic-ai agent for the tests: its one tool asks for approval itself, raising
``ApprovalRequired`` until the call is approved (pydantic-ai's pattern for a decision that
depends on the arguments), under the same governance as the store agent."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic_ai import Agent, RunContext
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow, TemporalDurability
    from pydantic_ai.exceptions import ApprovalRequired
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    from examples.pydantic_ai_store.agent import MODEL_CLIENT, MODEL_NAME
    from handrail.contracts import AgentTask, Profile, TaskResult
    from handrail.frameworks.pydantic_ai import HandrailGovernance
    from handrail.governance import Governor

WORKFLOW = "AskingAgent"
TOOL = "wipe_cache"
RULE = f"""
[rules.{TOOL}]
effect = "read_only"
autonomy = "autonomous"
"""
"""The rule of the agent's tool (appended to a copy of the store agent's profile)."""


async def wipe_cache(ctx: RunContext[None], region: str) -> str:
    """Clear the price cache of a region."""
    if not ctx.tool_call_approved:
        raise ApprovalRequired
    return f"cache of {region} cleared"


asking_agent = Agent(
    OpenAIChatModel(MODEL_NAME, provider=OpenAIProvider(openai_client=MODEL_CLIENT)),
    name="asking_agent",
    tools=[wipe_cache],
    capabilities=[TemporalDurability(), HandrailGovernance()],
)


@workflow.defn(name=WORKFLOW)
class AskingAgent(PydanticAIWorkflow):
    __pydantic_ai_agents__ = (asking_agent,)

    @workflow.init
    def __init__(self, task: AgentTask) -> None:
        self.governor = Governor.host(task)

    @workflow.run
    async def run(self, task: AgentTask) -> TaskResult:
        async def run_agent(profile: Profile) -> str:
            return (await asking_agent.run(task.goal)).output

        return await self.governor.govern(run_agent)
