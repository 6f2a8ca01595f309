"""How each peer starts: its client, worker and workflow on a task queue of its own
(``benchmarks/peers.py`` measures them). In this process for the peers in the ``bench`` extra;
from a venv of its own, as a subprocess, for Strands and Google ADK (``peer_venvs.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from benchmarks.harness import BenchEnv
from benchmarks.peer_venvs import TOOL_ACTIVITY as VENV_TOOL_ACTIVITY
from benchmarks.peer_venvs import VenvPeer, running_peer
from examples.store.settings import store_db_path


@dataclass
class PeerApp:
    """A running peer: its client, task queue, workflow type and how to spot its tool calls."""

    client: Client
    task_queue: str
    workflow: str
    store_db: str
    is_tool_activity: Callable[[str], bool]


@asynccontextmanager
async def _pydantic_ai(bench: BenchEnv) -> AsyncIterator[PeerApp]:
    from pydantic_ai.durable_exec.temporal import PydanticAIPlugin

    from benchmarks.peer_apps import pydantic_ai_app as app

    app.bind_model(bench.model.base_url)
    settings = bench.settings("peer-pydantic-ai")
    client = await Client.connect(
        bench.address, namespace=bench.client.namespace, plugins=[PydanticAIPlugin()]
    )
    async with Worker(
        client, task_queue=settings.task_queue, workflows=[app.PydanticAIPeerWorkflow]
    ):
        yield PeerApp(
            client,
            settings.task_queue,
            app.WORKFLOW,
            str(store_db_path(settings)),
            # pydantic-ai names tool activities agent__<agent>__toolset__<id>__call_tool.
            lambda name: name.endswith("__call_tool"),
        )


@asynccontextmanager
async def _openai_agents(bench: BenchEnv) -> AsyncIterator[PeerApp]:
    from agents import OpenAIProvider, set_trace_processors
    from openai import AsyncOpenAI
    from temporalio.contrib.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin

    from benchmarks.peer_apps import openai_agents_app as app

    set_trace_processors([])  # no trace export to api.openai.com
    settings = bench.settings("peer-openai-agents")
    model = AsyncOpenAI(base_url=bench.model.base_url, api_key="bench", max_retries=0)
    plugin = OpenAIAgentsPlugin(
        model_params=ModelActivityParameters(start_to_close_timeout=timedelta(seconds=60)),
        model_provider=OpenAIProvider(openai_client=model, use_responses=False),
    )
    client = await Client.connect(bench.address, namespace=bench.client.namespace, plugins=[plugin])
    tool = app.PriceTool(str(store_db_path(settings)))
    try:
        async with Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[app.OpenAIAgentsPeerWorkflow],
            activities=[tool.lookup_price],
        ):
            yield PeerApp(
                client,
                settings.task_queue,
                app.WORKFLOW,
                str(store_db_path(settings)),
                lambda name: name == app.TOOL_ACTIVITY,
            )
    finally:
        await model.close()


@asynccontextmanager
async def _langgraph(bench: BenchEnv) -> AsyncIterator[PeerApp]:
    from temporalio.langgraph import LangGraphPlugin

    from benchmarks.peer_apps import langgraph_app as app

    app.bind_model(bench.model.base_url)
    settings = bench.settings("peer-langgraph")
    plugin = LangGraphPlugin(graphs={app.GRAPH: app.build_graph()})
    # The plugin brings no data converter; the workflow's input is a pydantic model.
    client = await Client.connect(
        bench.address,
        namespace=bench.client.namespace,
        plugins=[plugin],
        data_converter=pydantic_data_converter,
    )
    async with Worker(
        client, task_queue=settings.task_queue, workflows=[app.LangGraphPeerWorkflow]
    ):
        yield PeerApp(
            client,
            settings.task_queue,
            app.WORKFLOW,
            str(store_db_path(settings)),
            lambda name: name == app.TOOL_ACTIVITY,
        )


STRANDS = VenvPeer(
    name="strands",
    requirements=(
        "temporalio==1.35.0",
        "temporalio-strands-agents==0.1.0",
        "strands-agents[openai]==1.62.0",
    ),
    worker_module="benchmarks.peer_apps.strands_worker",
    workflow="PeerStrands",
)


GOOGLE_ADK = VenvPeer(
    name="google-adk",
    requirements=(
        "temporalio==1.35.0",
        "temporalio-google-adk==0.0.1",
        "google-adk==2.13.0",
        "litellm==1.110.2",
    ),
    worker_module="benchmarks.peer_apps.adk_worker",
    workflow="PeerGoogleADK",
    # LiteLLM fetches its model price list from the internet at import unless told not to.
    environment=(("LITELLM_LOCAL_MODEL_COST_MAP", "True"),),
)


def _in_own_venv(peer: VenvPeer) -> Callable[[BenchEnv], AbstractAsyncContextManager[PeerApp]]:
    @asynccontextmanager
    async def start(bench: BenchEnv) -> AsyncIterator[PeerApp]:
        store_db = str(store_db_path(bench.settings(f"peer-{peer.name}")))
        async with running_peer(bench, peer, store_db) as (client, task_queue):
            yield PeerApp(
                client, task_queue, peer.workflow, store_db, lambda n: n == VENV_TOOL_ACTIVITY
            )

    return start


PEERS: dict[str, Callable[[BenchEnv], AbstractAsyncContextManager[PeerApp]]] = {
    "pydantic-ai": _pydantic_ai,
    "openai-agents": _openai_agents,
    "langgraph": _langgraph,
    "strands": _in_own_venv(STRANDS),
    "google-adk": _in_own_venv(GOOGLE_ADK),
}
