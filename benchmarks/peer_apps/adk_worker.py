"""Temporal's Google ADK integration (``temporalio-google-adk``): an ADK ``Agent`` whose model is
the integration's ``TemporalModel`` (each model call an activity, ``invoke_model``), run by
ADK's ``InMemoryRunner`` inside a workflow on a worker with ``GoogleAdkPlugin``; the tool is an
activity made an ADK tool by the integration's ``activity_as_tool``.

ADK speaks Gemini natively; for an OpenAI-compatible Chat Completions endpoint it has LiteLLM
(``LiteLlm``, which ADK's model registry picks for an ``openai/...`` model name). The activity
builds the model from its name alone, so the endpoint reaches LiteLLM through its documented
environment (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``), set before the worker starts;
the benchmark sets ``LITELLM_LOCAL_MODEL_COST_MAP`` for the process (``benchmarks/peers.py``),
which keeps LiteLLM from fetching its price list from the internet at import.

Runs as ``python -m benchmarks.peer_apps.adk_worker`` from the peer's own venv
(``benchmarks/peer_venvs.py``: ADK pins ``opentelemetry-sdk <= 1.44``, the core needs 1.45),
importing nothing of the project. The tool's activity is served by the benchmark's process on
the workflow's task queue + ``-tool`` (Handrail's ``lookup_price`` work). Prints ``ready`` once
polling and exits when its stdin closes.
"""

from __future__ import annotations

import os
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from google.adk import Agent  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from google.adk.agents.run_config import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        RunConfig,
    )
    from google.adk.runners import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        InMemoryRunner,
    )
    from google.genai import types  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from temporalio.google_adk import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
        GoogleAdkPlugin,
        TemporalModel,
    )
    from temporalio.google_adk.workflow import (  # type: ignore[import-not-found, import-untyped, unused-ignore]
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

WORKFLOW = "PeerGoogleADK"
MODEL = "openai/bench-model"  # LiteLLM's provider prefix: Chat Completions at OPENAI_BASE_URL


@workflow.defn(name=WORKFLOW)
class AdkPeerWorkflow:
    @workflow.run
    async def run(self, task: PeerTask) -> str:
        tool = activity_as_tool(
            lookup_price,
            task_queue=workflow.info().task_queue + TOOL_QUEUE_SUFFIX,
            start_to_close_timeout=timedelta(seconds=30),
        )
        agent = Agent(
            name="peer_store", model=TemporalModel(MODEL), instruction=INSTRUCTIONS, tools=[tool]
        )
        runner = InMemoryRunner(agent=agent, app_name="bench")
        session = await runner.session_service.create_session(app_name="bench", user_id="bench")
        message = types.Content(role="user", parts=[types.Part(text=task.prompt)])
        answer = ""
        # ADK's default is 500 model calls per run; the benchmark scripts up to 1,000 steps.
        config = RunConfig(max_llm_calls=task.steps + 5)
        async for event in runner.run_async(
            user_id="bench", session_id=session.id, new_message=message, run_config=config
        ):
            if event.content and event.content.parts:
                answer = "".join(part.text or "" for part in event.content.parts) or answer
        return answer


if __name__ == "__main__":
    parsed = parse_args()
    # LiteLLM's openai/ provider reads the endpoint from the environment.
    os.environ["OPENAI_BASE_URL"] = parsed.model_url
    os.environ["OPENAI_API_KEY"] = "bench"
    serve(parsed, AdkPeerWorkflow, [GoogleAdkPlugin()])
