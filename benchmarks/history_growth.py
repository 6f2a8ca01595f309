"""History growth: bytes and events of history per step, at growing step counts, for Handrail
and the floor. Handrail keeps the conversation outside history, so a step costs the same at
step 10 and at step 1,000; target ≤ 2 KB per step, constant in step count.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from openai import AsyncOpenAI
from temporalio.api.history.v1 import HistoryEvent

from benchmarks.floor import FloorActivities, floor_worker
from benchmarks.floor_workflow import FLOOR_WORKFLOW, FloorResult, FloorTask
from benchmarks.harness import BenchEnv, Row, run_lookups
from examples.store.settings import store_db_path
from handrail.testing.scripted_model import Scenario, ToolCallReply


def _size(events: Sequence[HistoryEvent]) -> int:
    return sum(event.ByteSize() for event in events)


async def handrail_task(bench: BenchEnv, steps: int) -> tuple[int, int, float]:
    """One Handrail task of ``steps`` lookups: (history bytes, events, seconds)."""
    run = await run_lookups(bench, bench.settings("history"), steps)
    events = list((await run.handle.fetch_history()).events)
    return _size(events), len(events), run.seconds


async def _floor(bench: BenchEnv, steps: int) -> tuple[int, int, float]:
    settings = bench.settings("history-floor")
    model = AsyncOpenAI(base_url=bench.model.base_url, api_key="bench", max_retries=0)
    marker = f"floor-{uuid.uuid4().hex[:10]}"
    bench.model.route(marker, Scenario([ToolCallReply("lookup_price", {"product": "Headlamp"})]))
    try:
        async with floor_worker(
            bench.client, settings.task_queue, FloorActivities(model, store_db_path(settings))
        ):
            started = time.monotonic()
            handle = await bench.client.start_workflow(
                FLOOR_WORKFLOW,
                FloorTask(marker=marker, steps=steps),
                id=marker,
                task_queue=settings.task_queue,
                result_type=FloorResult,
            )
            await handle.result()
            elapsed = time.monotonic() - started
        events = list((await handle.fetch_history()).events)
    finally:
        bench.model.unroute(marker)
        await model.close()
    return _size(events), len(events), elapsed


async def run(bench: BenchEnv) -> list[Row]:
    counts = (10, 50) if bench.quick else (10, 100, 500, 1000)
    rows: list[Row] = []
    for steps in counts:
        h_bytes, h_events, h_time = await handrail_task(bench, steps)
        f_bytes, f_events, f_time = await _floor(bench, steps)
        note = (
            f"handrail {h_events} events, {h_time:.1f} s; floor {f_events} events, {f_time:.1f} s"
        )
        rows.append(
            Row(
                benchmark="history growth",
                metric=f"bytes/step @{steps}",
                value=h_bytes / steps,
                floor=f_bytes / steps,
                unit="B",
                target="<= 2048 B, flat",
                note=note,
            )
        )
        rows.append(
            Row(
                benchmark="history growth",
                metric=f"events/step @{steps}",
                value=h_events / steps,
                floor=f_events / steps,
                unit="events",
            )
        )
    return rows
