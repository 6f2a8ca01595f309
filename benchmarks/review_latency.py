"""Review latency: from a reviewer's approval being sent to (a) the approved action starting and
(b) its completion being recorded by the workflow, by update and by signal, beside the floor.

Handrail tasks (profile ``store_actions``) whose model proposes a refund of 80.00 on order 1003
(above the review threshold of 50, so the policy pauses it), then answers. The floor is
``benchmarks.floor_review.FloorReviewWorkflow``: a bare workflow that proposes (one model call),
waits on an update or a signal, then runs one write and one model call.

Timing: ``t0`` is taken just before ``HandrailClient.review`` (update) or ``signal_review``
(signal), or the floor's ``execute_update`` / ``signal``. An activity interceptor on each worker
(Handrail's is added through its ``telemetry`` seam) takes ``time.monotonic()`` in the same
process when an activity begins:

- (a) the action starts: ``issue_refund`` (floor: ``floor_write``) begins;
- (b) its completion is recorded: the next ``decide`` (floor: the next model call) begins. The
  workflow schedules it in the workflow task that records the action's result, and it is
  dispatched eagerly, so it starts right after the completion is recorded.

(b) is split into the action's own run (its activity body, begin to end) and what follows its
end: reporting the completion, a workflow task on the sticky queue, and the next activity's
eager start. The floor's numbers for both show how much of (b) the server and SDK take.

Reviews are sent one at a time, interleaved (Handrail by update, floor by update, Handrail by
signal, floor by signal), and each task is let finish before the next review, so one review's
tail never overlaps the next one's measurement. The paused tasks are in the worker's cache (each
batch holds fewer than ``max_cached_workflows``): this is the latency of a worker that holds the
task, not of one that must replay it first.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

from benchmarks.floor import FloorActivities
from benchmarks.floor_review import (
    FLOOR_REVIEW_WORKFLOW,
    REVIEW_SIGNAL,
    REVIEW_UPDATE,
    FloorReviewTask,
    FloorReviewWorkflow,
)
from benchmarks.harness import BenchEnv, Row, percentile
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.telemetry.core import Telemetry
from handrail.testing.scripted_model import Reply, Scenario, ToolCallReply

WHY = {"rationale": "the tent arrived torn", "confidence": 0.95}
REFUND = ToolCallReply(
    "issue_refund", {"order_id": 1003, "amount": "80.00", "reason": "damaged", **WHY}
)
REPLIES: list[Reply] = [REFUND, ToolCallReply("final_answer", {"answer": "Refunded.", **WHY})]
APPROVE = {"reviewer": "alice", "step": 1, "verdict": "approve"}
# Reviews per channel (update, signal), for Handrail and, interleaved, for the floor.
# Full: 1,000 reviews in all (``BENCH_REVIEWS`` overrides the count per channel).
QUICK_REVIEWS, FULL_REVIEWS = 12, 250
BATCH = 250  # paused tasks per channel at a time: 2 x 250 stays under the default cache of 1000
STARTS_IN_FLIGHT = 50

# (a) and (b) as the interceptor sees them, the action's end, and "paused" once the task has
# asked for its review.
ACT, ACTED, RECORDED, PAUSED = "act", "acted", "recorded", "paused"


def _label(activity_type: str, arg: Any, done: bool) -> str | None:
    step = getattr(arg, "step", None)
    if done:
        if activity_type == "notify_reviewers" or (activity_type == "floor_model" and step == 0):
            return PAUSED
        if activity_type in ("issue_refund", "floor_write"):
            return ACTED
        return None
    if activity_type in ("issue_refund", "floor_write"):
        return ACT
    if activity_type in ("decide", "floor_model") and step == 1:
        return RECORDED
    return None


class Stopwatch(Interceptor):
    """Takes ``time.monotonic()`` when the activities that mark (a), (b) and "paused" begin
    (or end), per workflow id; ``when`` waits for a mark."""

    def __init__(self) -> None:
        self._marks: dict[tuple[str, str], asyncio.Future[float]] = {}

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Marks(next, self)

    def _future(self, workflow_id: str, label: str) -> asyncio.Future[float]:
        key = (workflow_id, label)
        future = self._marks.get(key)
        if future is None:
            future = self._marks[key] = asyncio.get_running_loop().create_future()
        return future

    def mark(self, workflow_id: str, label: str) -> None:
        future = self._future(workflow_id, label)
        if not future.done():  # a retried activity keeps its first mark
            future.set_result(time.monotonic())

    async def when(self, workflow_id: str, label: str, timeout: float = 60) -> float:
        return await asyncio.wait_for(asyncio.shield(self._future(workflow_id, label)), timeout)

    def forget(self, workflow_id: str) -> None:
        for label in (ACT, ACTED, RECORDED, PAUSED):
            self._marks.pop((workflow_id, label), None)


class _Marks(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, stopwatch: Stopwatch) -> None:
        super().__init__(next)
        self._stopwatch = stopwatch

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        arg = input.args[0] if input.args else None
        workflow_id = info.workflow_id or ""
        label = _label(info.activity_type, arg, done=False)
        if label is not None:
            self._stopwatch.mark(workflow_id, label)
        result = await self.next.execute_activity(input)
        label = _label(info.activity_type, arg, done=True)
        if label is not None:
            self._stopwatch.mark(workflow_id, label)
        return result


class TimedTelemetry(Telemetry):
    """Handrail's own (no-op) telemetry plus the stopwatch, first so it sees activities begin
    before anything else runs: the worker's ``telemetry`` seam, no change to the worker."""

    def __init__(self, stopwatch: Stopwatch) -> None:
        super().__init__()
        self._stopwatch = stopwatch

    def worker_interceptors(self) -> list[Interceptor]:
        return [self._stopwatch, *super().worker_interceptors()]


def room_for_refunds(store: Path, count: int) -> None:
    """Let order 1003 (308.95 USD as seeded) take ``count`` refunds of 80.00, so every approved
    refund commits a row instead of being refused as exceeding the order."""
    with sqlite3.connect(store) as db:
        db.execute(
            "UPDATE order_items SET quantity = ? WHERE order_id = 1003 AND sku = 'TENT-2P'",
            (count + 1,),
        )


async def bounded_gather(
    make: Callable[[int], Awaitable[str]], count: int, in_flight: int
) -> list[str]:
    gate = asyncio.Semaphore(in_flight)

    async def one(index: int) -> str:
        async with gate:
            return await make(index)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


Review = Callable[[str], Awaitable[Any]]
Finish = Callable[[str], Awaitable[Any]]


Sample = tuple[float, float, float, float]  # ms: (a), (b), the action's run, its end -> (b)


async def _measure(stopwatch: Stopwatch, task_id: str, review: Review, finish: Finish) -> Sample:
    started = time.monotonic()
    await review(task_id)
    act = await stopwatch.when(task_id, ACT)
    acted = await stopwatch.when(task_id, ACTED)
    recorded = await stopwatch.when(task_id, RECORDED)
    await finish(task_id)
    stopwatch.forget(task_id)
    return (
        (act - started) * 1000,
        (recorded - started) * 1000,
        (acted - act) * 1000,
        (recorded - acted) * 1000,
    )


class _Kinds:
    """The four kinds of review measured: (Handrail | floor) x (update | signal)."""

    def __init__(self, client: Client, handrail: HandrailClient, floor_queue: str) -> None:
        self.client = client
        self.handrail = handrail
        self.floor_queue = floor_queue

    async def start_handrail(self, marker: str) -> str:
        handle = await self.handrail.start_task(
            {"goal": f"{marker}: the tent of order 1003 arrived torn", "profile": "store_actions"}
        )
        return handle.id

    async def start_floor(self, marker: str) -> str:
        handle = await self.client.start_workflow(
            FLOOR_REVIEW_WORKFLOW,
            FloorReviewTask(marker=marker),
            id=marker,
            task_queue=self.floor_queue,
        )
        return handle.id

    async def handrail_update(self, task_id: str) -> None:
        await self.handrail.review(task_id, APPROVE)

    async def handrail_signal(self, task_id: str) -> None:
        await self.handrail.signal_review(task_id, APPROVE)

    async def handrail_finish(self, task_id: str) -> None:
        result = await self.handrail.get_result(task_id)
        assert result.status == "answered", (task_id, result.status)

    async def floor_update(self, workflow_id: str) -> None:
        handle = self.client.get_workflow_handle(workflow_id)
        await handle.execute_update(REVIEW_UPDATE, "alice", result_type=str)

    async def floor_signal(self, workflow_id: str) -> None:
        await self.client.get_workflow_handle(workflow_id).signal(REVIEW_SIGNAL, "alice")

    async def floor_finish(self, workflow_id: str) -> None:
        await self.client.get_workflow_handle(workflow_id).result()


async def run(bench: BenchEnv) -> list[Row]:
    reviews = int(os.environ.get("BENCH_REVIEWS", QUICK_REVIEWS if bench.quick else FULL_REVIEWS))
    settings = bench.settings("review")
    floor_settings = bench.settings("review-floor")
    room_for_refunds(store_db_path(settings), 2 * reviews + 10)
    tag = uuid.uuid4().hex[:8]
    marker, floor_marker = f"rlat-{tag}", f"rlatf-{tag}"
    bench.model.route(marker, Scenario(REPLIES))
    bench.model.route(floor_marker, Scenario([REFUND]))
    model = AsyncOpenAI(base_url=bench.model.base_url, api_key="bench", max_retries=0)
    floor_activities = FloorActivities(model, store_db_path(floor_settings))
    stopwatch = Stopwatch()
    kinds = _Kinds(bench.client, HandrailClient(bench.client, settings), floor_settings.task_queue)
    plan: list[tuple[str, Callable[[str], Awaitable[str]], Review, Finish]] = [
        ("handrail update", kinds.start_handrail, kinds.handrail_update, kinds.handrail_finish),
        ("floor update", kinds.start_floor, kinds.floor_update, kinds.floor_finish),
        ("handrail signal", kinds.start_handrail, kinds.handrail_signal, kinds.handrail_finish),
        ("floor signal", kinds.start_floor, kinds.floor_signal, kinds.floor_finish),
    ]
    samples: dict[str, list[Sample]] = {name: [] for name, *_ in plan}
    counter = 0

    async def pause(start: Callable[[str], Awaitable[str]], count: int) -> list[str]:
        nonlocal counter
        base = counter
        counter += count
        prefix = floor_marker if start == kinds.start_floor else marker
        ids = await bounded_gather(lambda i: start(f"{prefix}-{base + i}"), count, STARTS_IN_FLIGHT)
        await asyncio.gather(*(stopwatch.when(i, PAUSED, timeout=300) for i in ids))
        return ids

    try:
        async with (
            running_worker(bench.client, settings, telemetry=TimedTelemetry(stopwatch)),
            Worker(
                bench.client,
                task_queue=floor_settings.task_queue,
                workflows=[FloorReviewWorkflow],
                activities=[floor_activities.floor_model, floor_activities.floor_write],
                interceptors=[stopwatch],
            ),
        ):
            # Warm up: worker caches, SQLite files, HTTP connections; not counted.
            for _, start, review, finish in plan:
                (task_id,) = await pause(start, 1)
                await asyncio.sleep(0.2)
                await _measure(stopwatch, task_id, review, finish)
            done = 0
            while done < reviews:
                batch = min(BATCH, reviews - done)
                paused = [await pause(start, batch) for _, start, _, _ in plan]
                await asyncio.sleep(1.0)  # let the last pauses settle before measuring
                for index in range(batch):
                    for (name, _, review, finish), ids in zip(plan, paused, strict=True):
                        samples[name].append(await _measure(stopwatch, ids[index], review, finish))
                done += batch
    finally:
        bench.model.unroute(marker)
        bench.model.unroute(floor_marker)
        await model.close()
    return _rows(samples)


def _rows(samples: dict[str, list[Sample]]) -> list[Row]:
    rows: list[Row] = []
    targets = {0: "p50 <= 20 ms", 1: "p50 <= 30 ms"}
    phases = {
        0: ("(a) click -> action starts", (50, 95, 99)),
        1: ("(b) click -> completion recorded", (50, 95, 99)),
        2: ("  of which the action runs", (50,)),
        3: ("  of which action end -> recorded", (50,)),
    }
    for channel in ("update", "signal"):
        mine, floor = samples[f"handrail {channel}"], samples[f"floor {channel}"]
        for phase, (label, quantiles) in phases.items():
            for q in quantiles:
                rows.append(
                    Row(
                        benchmark="review latency",
                        metric=f"by {channel}: {label}, p{q}",
                        value=percentile([s[phase] for s in mine], q),
                        floor=percentile([s[phase] for s in floor], q),
                        unit="ms",
                        target=targets.get(phase, "") if q == 50 else "",
                        note=f"{len(mine)} reviews, one at a time, task cached",
                    )
                )
    return rows
