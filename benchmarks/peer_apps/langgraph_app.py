"""Temporal's LangGraph integration (``temporalio-langgraph``): a LangGraph ``StateGraph`` agent
(a model node and a tool node, looping while the model asks for tools: LangGraph's ReAct
shape) run by ``ainvoke`` inside a workflow, on a client with ``LangGraphPlugin``, which makes
each node marked ``execute_in="activity"`` an activity named ``<graph>.<node>``.

LangGraph is model-agnostic: the model node calls Chat Completions itself with the ``openai``
client the rest of the project uses (``langchain-openai`` is not needed for that), over one
``AsyncOpenAI`` made at import and pointed at the scripted server by ``bind_model``. The graph's
state (the whole conversation) is what LangGraph hands each node, so it crosses every activity
boundary, as in any LangGraph graph under this plugin.
"""

from __future__ import annotations

import json
import operator
from datetime import timedelta
from typing import Annotated, Any, TypedDict

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from langgraph.graph import END, START, StateGraph
    from openai import AsyncOpenAI
    from temporalio.langgraph import graph

    from benchmarks.peer_apps.common import (
        INSTRUCTIONS,
        MODEL_NAME,
        TOOL_DESCRIPTION,
        PeerTask,
        lookup_price_text,
    )

WORKFLOW = "PeerLangGraph"
GRAPH = "peer-store"
TOOL_ACTIVITY = f"{GRAPH}.tools"
NODE_OPTIONS = {"execute_in": "activity", "start_to_close_timeout": timedelta(seconds=60)}

_CLIENTS: dict[str, AsyncOpenAI] = {}
"""The model node's client, made on first use on the host (never in the workflow sandbox,
which re-imports this module and where the client's HTTP stack is restricted)."""

_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_price",
            "description": TOOL_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {"product": {"type": "string"}},
                "required": ["product"],
            },
        },
    }
]


def bind_model(base_url: str) -> None:
    """Send the model node's requests to ``base_url`` (the scripted Chat Completions server)."""
    _CLIENTS["model"] = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)


class AgentState(TypedDict):
    messages: Annotated[list[Any], operator.add]  # Chat Completions messages, as dicts
    store_db: str


async def call_model(state: AgentState) -> dict[str, Any]:
    completion = await _CLIENTS["model"].chat.completions.create(
        model=MODEL_NAME, messages=state["messages"], tools=_TOOLS
    )
    return {"messages": [completion.choices[0].message.model_dump(exclude_none=True)]}


async def call_tools(state: AgentState) -> dict[str, Any]:
    replies = []
    for call in state["messages"][-1].get("tool_calls", []):
        arguments = json.loads(call["function"]["arguments"] or "{}")
        content = await lookup_price_text(state["store_db"], str(arguments.get("product", "")))
        replies.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    return {"messages": replies}


async def _next(state: AgentState) -> str:
    # async: LangGraph runs a sync router in a thread pool, which a workflow has not.
    return "tools" if state["messages"][-1].get("tool_calls") else END


def build_graph() -> StateGraph[AgentState, Any, Any, Any]:
    """A fresh graph: ``LangGraphPlugin`` rewrites the nodes of the graphs it is given."""
    builder: StateGraph[AgentState, Any, Any, Any] = StateGraph(AgentState)
    builder.add_node("model", call_model, metadata=NODE_OPTIONS)
    builder.add_node("tools", call_tools, metadata=NODE_OPTIONS)
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", _next, ["tools", END])
    builder.add_edge("tools", "model")
    return builder


@workflow.defn(name=WORKFLOW)
class LangGraphPeerWorkflow:
    @workflow.run
    async def run(self, task: PeerTask) -> str:
        agent = graph(GRAPH).compile()
        messages = [
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": task.prompt},
        ]
        # Two supersteps per tool step; LangGraph's default limit is 25.
        state = await agent.ainvoke(
            {"messages": messages, "store_db": task.store_db},
            config={"recursion_limit": 2 * task.steps + 10},
        )
        return str(state["messages"][-1].get("content") or "")
