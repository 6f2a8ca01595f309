"""What the peers that run from a venv of their own share (``strands_worker``, ``adk_worker``;
``benchmarks/peer_venvs.py`` starts them): the task, the tool's stub, the command line, and a
worker that prints ``ready`` once polling and exits when its stdin closes.

Imports only ``temporalio`` and the standard library: those venvs cannot import the project.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temporalio import activity

# The same words as benchmarks/peer_apps/common.py, which these venvs cannot import.
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    for option in ("address", "namespace", "task-queue", "tool-queue", "tool-activity"):
        parser.add_argument(f"--{option}", required=True)
    parser.add_argument("--model-url", required=True)
    return parser.parse_args()


def _exit_when_stdin_closes() -> None:
    sys.stdin.read()
    os._exit(0)  # the benchmark is gone: nothing to clean up that the server does not


def serve(args: argparse.Namespace, workflow: type, plugins: Sequence[Any]) -> None:
    """Run ``workflow``'s worker with ``plugins`` until the benchmark closes stdin."""
    if args.tool_queue != args.task_queue + TOOL_QUEUE_SUFFIX:
        raise SystemExit(f"the tool queue must be the task queue + {TOOL_QUEUE_SUFFIX!r}")

    async def run() -> None:
        from temporalio.client import Client
        from temporalio.worker import Worker

        client = await Client.connect(args.address, namespace=args.namespace, plugins=list(plugins))
        async with Worker(client, task_queue=args.task_queue, workflows=[workflow]):
            print("ready", flush=True)
            await asyncio.Event().wait()

    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    asyncio.run(run())
