"""The host workflow: the SDK agent run by ``Runner.run``, under Handrail's governor.

The lines between the ``governed-recipe`` markers are all it takes (docs/frameworks.md quotes
them; ``tests/test_docs_recipe.py`` checks the quote): host a ``Governor``, run the governed copy
of the agent inside ``governor.govern``.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agents import Runner

    from examples.openai_agents_store.agent import store_agent
    from handrail.contracts import AgentTask, Profile, TaskResult

# governed-recipe: start
with workflow.unsafe.imports_passed_through():
    from handrail.frameworks.openai_agents import governed
    from handrail.governance import Governor

WORKFLOW = "OpenAIAgentsStoreAgent"


@workflow.defn(name=WORKFLOW)
class StoreAgentWorkflow:
    @workflow.init
    def __init__(self, task: AgentTask) -> None:
        # The reviewer's `review` update, `submit_review` signal and `trace` query.
        self.governor = Governor.host(task)

    @workflow.run
    async def run(self, task: AgentTask) -> TaskResult:
        async def agent(profile: Profile) -> str:
            run = governed(store_agent(), self.governor, profile)
            result = await Runner.run(run, task.goal, max_turns=profile.max_steps + 1)
            return str(result.final_output)

        return await self.governor.govern(agent)


# governed-recipe: end
