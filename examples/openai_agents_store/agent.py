"""The store's support agent as a team would already have it with the OpenAI Agents SDK: its
instructions, its model and two tools of its own. Nothing here knows Handrail.

- ``order_status``: a Temporal activity made a tool with ``activity_as_tool`` (it reads the
  store's database, so it must run outside workflow code);
- ``goodwill_code``: a plain ``function_tool`` (pure: it runs in workflow code) whose
  definition asks for approval (``needs_approval=True``).

The refunds and discounts come from Handrail's store tools (``examples/store/tools.py``),
which the profile lists: the governed copy of this agent offers them to its model.
"""

from __future__ import annotations

import json
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from agents import Agent, function_tool
    from temporalio.contrib.openai_agents.workflow import activity_as_tool

    from examples.store.database import StoreDatabase
    from examples.store.tools import GetOrderArgs, store_tools
    from handrail import ToolContext, ToolRefused

MODEL = "gpt-4o-mini"  # the scripted server in tests and the benchmark; any in production
INSTRUCTIONS = (
    "You are the support agent of an online outdoor store. Look up orders and prices, grant "
    "discounts and refunds when the customer is owed them, and answer briefly."
)
ORDER_STATUS_ACTIVITY = "openai_agents_store_order_status"


class OrderLookup:
    """The ``order_status`` activity over the store's database (given by the worker)."""

    def __init__(self, database: StoreDatabase) -> None:
        self._get_order = next(t for t in store_tools(database) if t.name == "get_order")

    @activity.defn(name=ORDER_STATUS_ACTIVITY)
    async def order_status(self, order_id: int) -> str:
        """Look up an order's status, items and total by its number."""
        info = activity.info()
        context = ToolContext(
            task_id=info.workflow_id or "", step=0, idempotency_key=info.activity_id, attempt=1
        )
        try:
            order = await self._get_order.function(GetOrderArgs(order_id=order_id), context)
        except ToolRefused as refusal:
            return json.dumps({"error": str(refusal)})
        return json.dumps(order)


# Async: the SDK runs a plain `def` tool in a thread, which workflow code may not start.
@function_tool(needs_approval=True)
async def goodwill_code(order_id: int) -> str:
    """A goodwill code for the customer's next order (a person approves each one)."""
    return f"SORRY-{order_id}"


def store_agent() -> Agent[None]:
    """The agent, built inside the workflow (``activity_as_tool`` needs no worker to build)."""
    return Agent(
        name="store_support",
        instructions=INSTRUCTIONS,
        model=MODEL,
        tools=[
            activity_as_tool(
                OrderLookup.order_status, start_to_close_timeout=timedelta(seconds=30)
            ),
            goodwill_code,
        ],
    )
