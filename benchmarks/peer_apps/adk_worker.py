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

import argparse
import asyncio
import os
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

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

WORKFLOW = "PeerGoogleADK"
MODEL = "openai/bench-model"  # LiteLLM's provider prefix: Chat Completions at OPENAI_BASE_URL
# The same words as benchmarks/peer_apps/common.py, which this venv cannot import.
INSTRUCTIONS = "You are an online store's support agent. Use the tools to answer."
TOOL_QUEUE_SUFFIX = "-tool"  # benchmarks/peer_venvs.py serves lookup_price there


@dataclass
class PeerTask:
    """benchmarks/peer_apps/common.py's ``PeerTask``, as the JSON it arrives as."""

    prompt: str
    steps: int
    store_db: str


@activity.defn(name="lookup_price")
async def lookup_price(product: str) -> str:
    """Look up a product's current price and currency by its name."""
    raise NotImplementedError("served by the benchmark's process")


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


def _exit_when_stdin_closes() -> None:
    sys.stdin.read()
    os._exit(0)  # the benchmark is gone: nothing to clean up that the server does not


async def _main(args: argparse.Namespace) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    if args.tool_queue != args.task_queue + TOOL_QUEUE_SUFFIX:
        raise SystemExit(f"the tool queue must be the task queue + {TOOL_QUEUE_SUFFIX!r}")
    client = await Client.connect(
        args.address, namespace=args.namespace, plugins=[GoogleAdkPlugin()]
    )
    async with Worker(client, task_queue=args.task_queue, workflows=[AdkPeerWorkflow]):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for option in ("address", "namespace", "task-queue", "tool-queue", "tool-activity"):
        parser.add_argument(f"--{option}", required=True)
    parser.add_argument("--model-url", required=True)
    parsed = parser.parse_args()
    os.environ["OPENAI_BASE_URL"] = parsed.model_url
    os.environ["OPENAI_API_KEY"] = "bench"
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    asyncio.run(_main(parsed))
