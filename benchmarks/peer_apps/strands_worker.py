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

import argparse
import asyncio
import os
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from strands.models.openai import OpenAIModel  # type: ignore[import-not-found, unused-ignore]
    from temporalio.strands_agents import (  # type: ignore[import-not-found, unused-ignore]
        StrandsPlugin,
        TemporalAgent,
    )
    from temporalio.strands_agents.workflow import (  # type: ignore[import-not-found, unused-ignore]
        activity_as_tool,
    )

WORKFLOW = "PeerStrands"
MODEL = "bench"
# The same words as benchmarks/peer_apps/common.py, which this venv cannot import.
INSTRUCTIONS = "You are an online store's support agent. Use the tools to answer."
TOOL_ACTIVITY = "lookup_price"  # the tool's name too; benchmarks/peer_venvs.py serves it on...
TOOL_QUEUE_SUFFIX = "-tool"  # ...the workflow's own task queue with this suffix


@dataclass
class PeerTask:
    """benchmarks/peer_apps/common.py's ``PeerTask``, as the JSON it arrives as."""

    prompt: str
    steps: int
    store_db: str


@activity.defn(name=TOOL_ACTIVITY)
async def lookup_price(product: str) -> str:
    """Look up a product's current price and currency by its name."""
    raise NotImplementedError("served by the benchmark's process")


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


def _exit_when_stdin_closes() -> None:
    sys.stdin.read()
    os._exit(0)  # the benchmark is gone: nothing to clean up that the server does not


async def _main(args: argparse.Namespace) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    if args.tool_queue != args.task_queue + TOOL_QUEUE_SUFFIX:
        raise SystemExit(f"the tool queue must be the task queue + {TOOL_QUEUE_SUFFIX!r}")

    def model() -> OpenAIModel:
        return OpenAIModel(
            client_args={"base_url": args.model_url, "api_key": "bench", "max_retries": 0},
            model_id="bench-model",
            stream=False,
        )

    plugin = StrandsPlugin(models={MODEL: model})
    client = await Client.connect(args.address, namespace=args.namespace, plugins=[plugin])
    async with Worker(client, task_queue=args.task_queue, workflows=[StrandsPeerWorkflow]):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for option in ("address", "namespace", "task-queue", "tool-queue", "tool-activity"):
        parser.add_argument(f"--{option}", required=True)
    parser.add_argument("--model-url", required=True)
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    asyncio.run(_main(parser.parse_args()))
