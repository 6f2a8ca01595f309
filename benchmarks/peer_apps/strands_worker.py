"""Temporal's Strands Agents integration (``temporalio-strands-agents``): a ``TemporalAgent`` run
inside a workflow on a worker with ``StrandsPlugin``, which makes each model call an activity;
the tool is an activity made a Strands tool by ``activity_as_tool``, as the integration
documents.

The model is Strands' own ``OpenAIModel`` (Chat Completions) on the scripted server, with
``stream=False``: the scripted server answers whole responses, and Strands turns a whole
response into the same stream events.

Runs as ``python -m benchmarks.peer_apps.strands_worker`` from the peer's own venv
(``benchmarks/peer_venvs.py``: Strands' integration pins ``mcp < 2``), so it imports nothing of
the project: only Strands, ``temporalio`` and the standard library. The tool's activity is
served by the benchmark's own process on ``--tool-queue`` (Handrail's ``lookup_price`` work);
the stub below gives Strands its name and signature. Prints ``ready`` once polling and exits
when its stdin closes.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from strands.models.openai import OpenAIModel  # type: ignore[import-not-found, unused-ignore]
    from temporalio.strands_agents import (  # type: ignore[import-not-found, unused-ignore]
        StrandsPlugin,
        TemporalAgent,
    )
    from temporalio.strands_agents.workflow import (  # type: ignore[import-not-found, unused-ignore]
        activity_as_tool,
    )

    from benchmarks.peer_apps.venv_peer import (
        INSTRUCTIONS,
        TOOL_QUEUE_SUFFIX,
        PeerTask,
        lookup_price,
        parse_args,
        serve,
    )

WORKFLOW = "PeerStrands"
MODEL = "bench"


@workflow.defn(name=WORKFLOW)
class StrandsPeerWorkflow:
    @workflow.run
    async def run(self, task: PeerTask) -> str:
        tool = activity_as_tool(
            lookup_price,
            task_queue=workflow.info().task_queue + TOOL_QUEUE_SUFFIX,
            start_to_close_timeout=timedelta(seconds=30),
        )
        agent = TemporalAgent(
            model=MODEL,
            start_to_close_timeout=timedelta(seconds=60),
            system_prompt=INSTRUCTIONS,
            tools=[tool],
            callback_handler=None,
        )
        result = await agent.invoke_async(task.prompt)
        return str(result)


def _plugin(model_url: str) -> StrandsPlugin:
    def model() -> OpenAIModel:
        return OpenAIModel(
            client_args={"base_url": model_url, "api_key": "bench", "max_retries": 0},
            model_id="bench-model",
            stream=False,
        )

    return StrandsPlugin(models={MODEL: model})


if __name__ == "__main__":
    parsed = parse_args()
    serve(parsed, StrandsPeerWorkflow, [_plugin(parsed.model_url)])
