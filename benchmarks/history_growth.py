"""History growth: bytes and events of history per step, at growing step counts, for Handrail
and the floor. Handrail keeps the conversation outside history, so a step costs the same at
step 10 and at step 1,000; target ≤ 2 KB per step, constant in step count. Beside them, the
Temporal Cloud billable actions per step each history shows (``benchmarks/billing.py``).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from openai import AsyncOpenAI
from temporalio.api.history.v1 import HistoryEvent

from benchmarks.billing import action_counts, describe
from benchmarks.floor import FloorActivities, floor_worker
from benchmarks.floor_workflow import FLOOR_WORKFLOW, FloorResult, FloorTask
from benchmarks.harness import BenchEnv, Row, run_lookups
from examples.store.settings import store_db_path
from handrail.testing.scripted_model import Scenario, ToolCallReply


def _size(events: Sequence[HistoryEvent]) -> int:
    return sum(event.ByteSize() for event in events)


@dataclass(frozen=True)
class TaskRun:
    """One task's run as its history shows it, and how long it took."""

    history_bytes: int
    events: int
    seconds: float
    actions: Counter[str]  # Temporal Cloud billable actions, by kind

    @classmethod
    def of(cls, events: Sequence[HistoryEvent], seconds: float) -> TaskRun:
        return cls(_size(events), len(events), seconds, action_counts(events))

    @property
    def action_total(self) -> int:
        return sum(self.actions.values())


async def handrail_task(bench: BenchEnv, steps: int) -> TaskRun:
    """One Handrail task of ``steps`` lookups."""
    run = await run_lookups(bench, bench.settings("history"), steps)
    return TaskRun.of(list((await run.handle.fetch_history()).events), run.seconds)


async def floor_task(bench: BenchEnv, steps: int) -> TaskRun:
    """The floor's workflow doing ``steps`` steps of the same work."""
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
    return TaskRun.of(events, elapsed)


async def run(bench: BenchEnv) -> list[Row]:
    counts = (10, 50) if bench.quick else (10, 100, 500, 1000)
    rows: list[Row] = []
    for steps in counts:
        handrail = await handrail_task(bench, steps)
        floor = await floor_task(bench, steps)
        note = (
            f"handrail {handrail.events} events, {handrail.seconds:.1f} s; "
            f"floor {floor.events} events, {floor.seconds:.1f} s"
        )
        rows.append(
            Row(
                benchmark="history growth",
                metric=f"bytes/step @{steps}",
                value=handrail.history_bytes / steps,
                floor=floor.history_bytes / steps,
                unit="B",
                target="<= 2048 B, flat",
                note=note,
            )
        )
        rows.append(
            Row(
                benchmark="history growth",
                metric=f"events/step @{steps}",
                value=handrail.events / steps,
                floor=floor.events / steps,
                unit="events",
            )
        )
        rows.append(
            Row(
                benchmark="history growth",
                metric=f"actions/step @{steps}",
                value=handrail.action_total / steps,
                floor=floor.action_total / steps,
                unit="actions",
                target="<= floor",
                note=f"handrail: {describe(handrail.actions)}; floor: {describe(floor.actions)}",
            )
        )
    return rows
