"""Throughput: tasks per second for one-tool pricing tasks with 1, 2 and 4 workers.

The task is the StoreClerk answering "How much is the Headlamp?": two model decisions (the
``lookup_price`` call, then the final answer) and one tool, plus Handrail's profile load and
ledger write. N tasks (quick: 15, full: 200; ``BENCH_THROUGHPUT_TASKS`` overrides) are started
at once and timed from the first start to the last result. The floor is
``benchmarks.floor``'s ``FloorWorkflow`` with one step: a model call to the same scripted
server, a SQLite read and a closing model call, as three regular activities.

"Workers" are that many ``Worker`` instances on one task queue *in this process*: they share
one Python interpreter (one GIL) and the machine's 2 cores with the dev server and the model
server, so more workers add pollers and slots, not CPU.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from contextlib import AsyncExitStack

from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from benchmarks.floor import FloorActivities, floor_worker
from benchmarks.floor_workflow import FLOOR_WORKFLOW, FloorResult, FloorTask
from benchmarks.harness import BenchEnv, Row
from examples.store.clerk import StoreClerk
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.testing.scripted_model import Scenario, ToolCallReply

QUESTION = "How much is the Headlamp?"
WORKER_COUNTS = (1, 2, 4)
NOTE = "workers share this process (one GIL) and 2 cores with the dev server and model server"


async def _clients(bench: BenchEnv, count: int) -> list[Client]:
    """One connection per worker: the SDK refuses two workers for one task queue on one client
    (and separate worker processes would each have their own anyway)."""
    return [
        await Client.connect(bench.address, data_converter=pydantic_data_converter)
        for _ in range(count)
    ]


async def _handrail(bench: BenchEnv, tasks: int, workers: int) -> float:
    """Seconds from starting ``tasks`` pricing tasks at once to the last result."""
    settings = bench.settings(f"tput{workers}")
    handrail = HandrailClient(bench.client, settings)
    marker = f"tput-{uuid.uuid4().hex[:8]}"
    bench.model.route(marker, StoreClerk())

    async def one(index: int) -> None:
        # The benchmark's settings host no app, so no default profile: name the store's.
        goal = f"{QUESTION} (ticket {marker}-{index})"
        handle = await handrail.start_task({"goal": goal, "profile": "store_support"})
        result = await handle.result()
        assert result.status == "answered", (handle.id, result.status)
        assert "24.00" in (result.answer or ""), result.answer

    try:
        async with AsyncExitStack() as stack:
            for client in await _clients(bench, workers):
                await stack.enter_async_context(running_worker(client, settings))
            await one(-1)  # warm up: worker caches, SQLite files, HTTP connections
            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(tasks)))
            return time.monotonic() - started
    finally:
        bench.model.unroute(marker)


async def _floor(bench: BenchEnv, tasks: int, workers: int) -> float:
    settings = bench.settings(f"tputf{workers}")
    marker = f"tputf-{uuid.uuid4().hex[:8]}"
    bench.model.route(
        marker,
        Scenario(
            [
                ToolCallReply(
                    "lookup_price", {"product": "Headlamp", "rationale": "price", "confidence": 0.9}
                )
            ]
        ),
    )
    model = AsyncOpenAI(base_url=bench.model.base_url, api_key="bench", max_retries=0)
    activities = FloorActivities(model, store_db_path(settings))

    async def one(index: int) -> None:
        workflow_id = f"{marker}-{index}"
        await bench.client.execute_workflow(
            FLOOR_WORKFLOW,
            FloorTask(marker=workflow_id, steps=1),
            id=workflow_id,
            task_queue=settings.task_queue,
            result_type=FloorResult,
        )

    try:
        async with AsyncExitStack() as stack:
            for client in await _clients(bench, workers):
                await stack.enter_async_context(
                    floor_worker(client, settings.task_queue, activities)
                )
            await one(-1)
            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(tasks)))
            return time.monotonic() - started
    finally:
        bench.model.unroute(marker)
        await model.close()


async def run(bench: BenchEnv) -> list[Row]:
    tasks = int(os.environ.get("BENCH_THROUGHPUT_TASKS", 15 if bench.quick else 200))
    rows: list[Row] = []
    for workers in WORKER_COUNTS:
        floor = await _floor(bench, tasks, workers)
        handrail = await _handrail(bench, tasks, workers)
        rows.append(
            Row(
                benchmark="throughput",
                metric=f"1-tool pricing tasks, {workers} worker{'s' if workers > 1 else ''}",
                value=tasks / handrail,
                floor=tasks / floor,
                unit="tasks/s",
                note=f"{tasks} started at once; 2 decides + 1 tool each; {NOTE}",
            )
        )
    return rows
