"""The store's support agent written as a pydantic-ai agent, durable on Temporal with
pydantic-ai's ``TemporalDurability``, and governed by Handrail.

What a team already has is a pydantic-ai ``Agent`` with its instructions, its model and its own
tools (``order_status``, and ``customer_contact``, which asks for approval), run by a Temporal
workflow. What Handrail adds is marked ``# Handrail`` (docs/frameworks.md quotes
it): one capability on the agent, which also offers the profile's tools declared with
Handrail's ``@tool`` (the store's ``lookup_price``, ``apply_discount``, ``issue_refund``,
``send_email``), and a workflow that hosts a governor and runs the agent inside it.

The agent is a module global (pydantic-ai's Temporal integration and ``Governor.current()``
find it so); its model client is made at import and pointed at the configured endpoint by
``bind_model`` in the worker, before any activity runs. Model requests and tool calls run only
in activities, so the copy of this module the workflow sandbox imports never does I/O.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from openai import AsyncOpenAI
    from pydantic_ai import Agent, Tool
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow, TemporalDurability
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.usage import UsageLimits
    from sqlalchemy import bindparam, select

    from examples.store.database import StoreDatabase, customers, orders
    from handrail.contracts import AgentTask, Profile, TaskResult  # Handrail
    from handrail.frameworks.pydantic_ai import HandrailGovernance  # Handrail
    from handrail.governance import Governor  # Handrail

WORKFLOW = "PydanticAIStoreAgent"
MODEL_NAME = "store-model"
"""The model the endpoint serves (``HANDRAIL_MODEL`` in the worker overrides it)."""
INSTRUCTIONS = (
    "You are the support agent of an online outdoor store. Look up prices and order statuses, "
    "grant discounts, issue refunds and email customers with your tools; use only facts they "
    "return. Never refund or discount more than the customer paid. With every tool call, state "
    "your rationale and your confidence between 0 and 1. When done, answer with a short "
    "summary for the customer."
)

# Replaced by ``bind_model`` before a worker starts; port 9 (discard) answers nothing.
MODEL_CLIENT = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="unset", max_retries=0)
_STORE: list[StoreDatabase] = []
"""The store database of this worker process (``bind_store``), read by ``order_status``."""


def bind_model(base_url: str, api_key: str) -> None:
    """Send the agent's model requests to ``base_url`` (an OpenAI-compatible endpoint)."""
    MODEL_CLIENT.base_url = base_url
    MODEL_CLIENT.api_key = api_key


def bind_store(database: StoreDatabase) -> None:
    """Let ``order_status`` read ``database`` (the worker's, never passed through history)."""
    _STORE[:] = [database]


_STATUS = select(orders.c.status).where(orders.c.id == bindparam("order_id"))
_CONTACT = (
    select(customers.c.name, customers.c.email)
    .join(orders, orders.c.customer_id == customers.c.id)
    .where(orders.c.id == bindparam("order_id"))
)


async def order_status(order_id: int) -> str:
    """Look up an order's status (placed, shipped, delivered) by its number."""
    row = await _STORE[0].fetch_one(_STATUS, {"order_id": order_id})
    if row is None:
        return f"no order number {order_id}"
    return f"order {order_id} is {row['status']}"


async def customer_contact(order_id: int) -> str:
    """The name and email address of the customer who placed an order."""
    row = await _STORE[0].fetch_one(_CONTACT, {"order_id": order_id})
    if row is None:
        return f"no order number {order_id}"
    return f"{row['name']} <{row['email']}>"


agent = Agent(
    OpenAIChatModel(MODEL_NAME, provider=OpenAIProvider(openai_client=MODEL_CLIENT)),
    name="store_pydantic_ai",
    instructions=INSTRUCTIONS,
    # Personal data: pydantic-ai's deferred approval, which Handrail turns into its review.
    tools=[order_status, Tool(customer_contact, requires_approval=True)],
    capabilities=[TemporalDurability(), HandrailGovernance()],  # Handrail: HandrailGovernance()
)


@workflow.defn(name=WORKFLOW)
class PydanticAIStoreAgent(PydanticAIWorkflow):
    __pydantic_ai_agents__ = (agent,)

    @workflow.init  # Handrail
    def __init__(self, task: AgentTask) -> None:  # Handrail
        self.governor = Governor.host(task)  # Handrail: the review update, signal and trace query

    @workflow.run
    async def run(self, task: AgentTask) -> TaskResult:  # Handrail: AgentTask in, TaskResult out
        async def run_agent(profile: Profile) -> str:  # Handrail: runs once the profile is loaded
            result = await agent.run(
                task.goal + (f"\nContext: {task.context}" if task.context else ""),
                usage_limits=UsageLimits(request_limit=profile.max_steps + 2),
            )
            return result.output

        return await self.governor.govern(run_agent)  # Handrail: gate the answer, commit or undo
