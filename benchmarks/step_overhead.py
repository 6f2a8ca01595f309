"""Per-step overhead: wall time per agent step (decide + gate + act + record) beside the floor.

A read-only step (``lookup_price``, a local activity in Handrail) and a side-effecting step
(``apply_discount``: gate, saga push, idempotent write) are each timed one task at a time and
with 20 tasks at once, against the floor doing a model call and a read (or a write) as two
regular activities. Targets: ≤ 0.6x the floor for a read-only step, ≤ 1.0x for a
side-effecting one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from openai import AsyncOpenAI

from benchmarks.floor import FloorActivities, floor_worker
from benchmarks.floor_workflow import FLOOR_WORKFLOW, FloorResult, FloorTask
from benchmarks.harness import WHY, BenchEnv, Row
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.testing.scripted_model import Reply, Scenario, ToolCallReply

CONCURRENT = 20


def _replies(steps: int, write: bool) -> list[Reply]:
    if write:
        call = ToolCallReply(
            "apply_discount", {"order_id": 1001, "amount": "0.10", "reason": "bench", **WHY}
        )
    else:
        call = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})
    return [*([call] * steps), ToolCallReply("final_answer", {"answer": "done", **WHY})]


async def _timed(run_one: Callable[[int], Awaitable[None]], tasks: int, at_once: int) -> float:
    """Seconds to run ``tasks`` tasks, ``at_once`` of them concurrently."""
    gate = asyncio.Semaphore(at_once)

    async def bounded(index: int) -> None:
        async with gate:
            await run_one(index)

    started = time.monotonic()
    await asyncio.gather(*(bounded(i) for i in range(tasks)))
    return time.monotonic() - started


async def _handrail(bench: BenchEnv, steps: int, write: bool, tasks: int, at_once: int) -> float:
    settings = bench.settings("overhead")
    handrail = HandrailClient(bench.client, settings)

    async def one(index: int) -> None:
        marker = f"ovh-{uuid.uuid4().hex[:10]}"
        bench.model.route(marker, Scenario(_replies(steps, write)))
        try:
            handle = await handrail.start_task({"goal": marker, "profile": "store_actions"})
            result = await handrail.get_result(handle.id)
            assert result.status == "answered", result.status
        finally:
            bench.model.unroute(marker)

    async with running_worker(bench.client, settings):
        await one(-1)  # warm up: worker caches, SQLite files, HTTP connections
        return await _timed(one, tasks, at_once)


async def _floor(bench: BenchEnv, steps: int, write: bool, tasks: int, at_once: int) -> float:
    settings = bench.settings("floor")
    model = AsyncOpenAI(base_url=bench.model.base_url, api_key="bench", max_retries=0)
    activities = FloorActivities(model, store_db_path(settings))
    bench.model.route("floor-", Scenario(_replies(1, write)[:1]))

    async def one(index: int) -> None:
        marker = f"floor-{uuid.uuid4().hex[:10]}"
        await bench.client.execute_workflow(
            FLOOR_WORKFLOW,
            FloorTask(marker=marker, steps=steps, write=write),
            id=marker,
            task_queue=settings.task_queue,
            result_type=FloorResult,
        )

    try:
        async with floor_worker(bench.client, settings.task_queue, activities):
            await one(-1)
            return await _timed(one, tasks, at_once)
    finally:
        bench.model.unroute("floor-")
        await model.close()


async def run(bench: BenchEnv) -> list[Row]:
    # --quick: fewer and shorter tasks, 10 at once instead of 20 (the whole quick run must stay
    # under two minutes); the full run is the one docs/benchmarks.md reports.
    steps = 3 if bench.quick else 10
    alone = 2 if bench.quick else 5
    together = 10 if bench.quick else CONCURRENT
    rows: list[Row] = []
    for write, kind, target in ((False, "read-only", 0.6), (True, "side-effecting", 1.0)):
        for label, tasks, at_once in (
            ("alone", alone, 1),
            (f"{together} at once", together, together),
        ):
            floor = await _floor(bench, steps, write, tasks, at_once)
            handrail = await _handrail(bench, steps, write, tasks, at_once)
            per_step = 1000 / (tasks * steps)
            rows.append(
                Row(
                    benchmark="step overhead",
                    metric=f"{kind} step, {label}",
                    value=handrail * per_step,
                    floor=floor * per_step,
                    unit="ms/step",
                    target=f"<= {target:.1f}x floor",
                    note=f"{tasks} tasks x {steps} steps",
                )
            )
    return rows
