"""Paused-task scale: many tasks paused for review at once on one 2-core machine.

N tasks (quick: 30; full: 1,500, half again the workflow cache; ``BENCH_PAUSED_TASKS=10000``
for the issue's count, which takes most of an hour on these machines) of profile
``store_actions`` whose model proposes a refund of 80.00 on order 1003 (above the review
threshold, so each pauses), then answers. Reported:

- the time to start them (every start call returned) and until every one is paused (counted
  with the visibility query ``AwaitingReview = true`` on the benchmark's task queue);
- the worker's peak RSS, sampled with psutil every 0.2 s from before the first start to after
  the last finish. The worker runs alone in a subprocess (``python -m tests.crash_worker``, a
  plain Handrail worker from ``HANDRAIL_*`` variables), so the number is the worker's only. Its
  workflow cache is the SDK default, ``max_cached_workflows=1000``: that bound is what keeps
  memory flat as paused tasks pile up (the other paused tasks are evicted and replayed when
  their review arrives);
- the time from the first approval (the ``review`` update, 50 in flight) until every task has
  finished, and the tasks lost: not finished as ``answered``, or whose refund row is missing
  from the store's database.

The floor is ``benchmarks.floor_review.FloorReviewWorkflow`` (a model call, pause with the same
search attribute, on approval a write and a model call) in its own worker subprocess, with the
same N, the same cache default and the same measurements, in the same run.

Both workers run with bytecode caching on (``PYTHONPYCACHEPREFIX`` in the scratch folder), as an
installed worker would: with ``PYTHONDONTWRITEBYTECODE=1`` (set on these machines) the workflow
sandbox compiles ``workflows/agent.py`` from source for every new workflow instance and every
replay, about 7% of the worker's CPU in this benchmark.

Every ``BENCH_PROGRESS_SECONDS`` (10) each side prints how far it is (start calls returned, tasks
paused, approvals returned, tasks finished; the worker's RSS now and its peak); stopped
(``benchmarks.progress``), it reports each figure reached so far and how far each side got.
``BENCH_PROFILE_DIR`` profiles each worker subprocess with py-spy
(``benchmarks.worker_subprocess``).
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client

from benchmarks.floor_review import (
    FLOOR_REVIEW_WORKFLOW,
    REVIEW_UPDATE,
    FloorReviewTask,
)
from benchmarks.harness import BenchEnv, Row
from benchmarks.progress import progress_lines
from benchmarks.review_latency import APPROVE, REFUND, REPLIES, bounded_gather, room_for_refunds
from benchmarks.worker_subprocess import RssSampler, subprocess_worker, worker_env
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.testing.scripted_model import Scenario

QUICK_TASKS, FULL_TASKS = 30, 1500
CACHE = 1000  # the SDK's default max_cached_workflows, which both workers keep
IN_FLIGHT = 50  # starts and approvals sent at once
POLL_SECONDS = 0.25
RSS_TARGET_MIB = 300
_WAIT_LIMIT = 1800.0  # seconds, for any one phase
NAN = math.nan


@dataclass
class Measured:
    """One side's run (Handrail or the floor), filled in as it goes: a figure not reached yet
    is NaN, so a stopped run still says what it measured and how far it got."""

    side: str
    count: int
    started: float = NAN  # s until every start call returned
    paused: float = NAN  # s until every task is paused (from the first start)
    paused_rss: float = NAN  # MiB, the worker's RSS once every task is paused
    approved: float = NAN  # s from the first approval until every task finished
    finished: int = 0  # tasks finished as they should
    lost: float = NAN
    start_calls: int = 0  # start calls returned so far
    approvals: int = 0  # approvals returned so far
    counts: dict[str, int] = field(default_factory=dict)  # visibility counts last seen
    sampler: RssSampler | None = None

    @property
    def peak_rss(self) -> float:
        """MiB, the worker's peak over the run so far."""
        return self.sampler.peak_mib if self.sampler is not None and self.sampler.peak else NAN

    def how_far(self) -> str:
        paused, done = self.counts.get("paused", 0), self.counts.get("done", 0)
        return (
            f"started {self.start_calls:,}/{self.count:,}, paused {paused:,}, "
            f"approved {self.approvals:,}, finished {done:,}"
        )


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def _until_count(client: Client, query: str, count: int) -> None:
    deadline = time.monotonic() + _WAIT_LIMIT
    while await _count(client, query) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} workflows match {query!r}")
        await asyncio.sleep(POLL_SECONDS)


def _progress(client: Client, queue: str, measured: Measured) -> Callable[[], Awaitable[str]]:
    """One progress line: the counts (two visibility queries) and the worker's RSS."""
    on_queue = f"TaskQueue = '{queue}'"

    async def describe() -> str:
        measured.counts["paused"] = await _count(client, f"{on_queue} AND AwaitingReview = true")
        measured.counts["done"] = await _count(
            client, f"{on_queue} AND ExecutionStatus != 'Running'"
        )
        rss = measured.sampler.now() if measured.sampler is not None else NAN
        return f"{measured.how_far()}; worker RSS {rss:,.0f} MiB (peak {measured.peak_rss:,.0f})"

    return describe


async def _scale(
    client: Client,
    measured: Measured,
    queue: str,
    start: Callable[[int], Awaitable[str]],
    approve: Callable[[str], Awaitable[object]],
    finished_query: str,
) -> None:
    on_queue = f"TaskQueue = '{queue}'"
    count = measured.count

    async def one_start(index: int) -> str:
        task_id = await start(index)
        measured.start_calls += 1
        return task_id

    async def one_approval(task_id: str) -> str:
        await approve(task_id)
        measured.approvals += 1
        return task_id

    async with progress_lines(measured.side, _progress(client, queue, measured)):
        began = time.monotonic()
        ids = await bounded_gather(one_start, count, IN_FLIGHT)
        measured.started = time.monotonic() - began
        await _until_count(client, f"{on_queue} AND AwaitingReview = true", count)
        measured.paused = time.monotonic() - began
        assert measured.sampler is not None
        measured.paused_rss = measured.sampler.now()
        print(f"   [{measured.side}] all {count:,} paused in {measured.paused:,.0f} s", flush=True)

        began = time.monotonic()
        await bounded_gather(lambda i: one_approval(ids[i]), count, IN_FLIGHT)
        await _until_count(client, f"{on_queue} AND ExecutionStatus != 'Running'", count)
        measured.approved = time.monotonic() - began
    measured.finished = await _count(client, f"{on_queue} AND {finished_query}")
    measured.lost = count - measured.finished


async def _handrail(bench: BenchEnv, measured: Measured) -> None:
    count = measured.count
    settings = bench.settings("paused")
    room_for_refunds(store_db_path(settings), count + 10)
    marker = f"pscale-{uuid.uuid4().hex[:8]}"
    bench.model.route(marker, Scenario(REPLIES))
    handrail = HandrailClient(bench.client, settings)
    env = worker_env(bench.scratch / "pycache") | {
        "HANDRAIL_TEMPORAL_ADDRESS": bench.address,
        "HANDRAIL_TASK_QUEUE": settings.task_queue,
        "HANDRAIL_DATA_DIR": str(settings.data_dir),
        "HANDRAIL_PROFILES_DIR": str(bench.profiles),
        "HANDRAIL_EMBEDDED_SERVER": "false",
        "OPENAI_BASE_URL": bench.model.base_url,
        "OPENAI_API_KEY": "bench",
    }

    async def start(index: int) -> str:
        handle = await handrail.start_task(
            {
                "goal": f"{marker}-{index}: the tent of order 1003 arrived torn",
                "profile": "store_actions",
            }
        )
        return handle.id

    async def approve(task_id: str) -> object:
        return await handrail.review(task_id, APPROVE)

    try:
        log = settings.data_dir / "worker.log"
        async with subprocess_worker("tests.crash_worker", env, log, "handrail") as process:
            with RssSampler(process.pid) as measured.sampler:
                await _scale(
                    bench.client,
                    measured,
                    settings.task_queue,
                    start,
                    approve,
                    "ExecutionStatus = 'Completed' AND HandrailStatus = 'answered'",
                )
    finally:
        bench.model.unroute(marker)
    with sqlite3.connect(store_db_path(settings)) as db:
        refunds = db.execute("SELECT COUNT(DISTINCT task_id) FROM refunds").fetchone()[0]
    measured.lost = max(measured.lost, count - refunds)


async def _floor(bench: BenchEnv, measured: Measured) -> None:
    count = measured.count
    settings = bench.settings("paused-floor")
    marker = f"pscalef-{uuid.uuid4().hex[:8]}"
    bench.model.route(marker, Scenario([REFUND]))
    env = worker_env(bench.scratch / "pycache") | {
        "FLOOR_ADDRESS": bench.address,
        "FLOOR_TASK_QUEUE": settings.task_queue,
        "FLOOR_STORE": str(store_db_path(settings)),
        "FLOOR_MODEL_URL": bench.model.base_url,
    }

    async def start(index: int) -> str:
        workflow_id = f"{marker}-{index}"
        await bench.client.start_workflow(
            FLOOR_REVIEW_WORKFLOW,
            FloorReviewTask(marker=workflow_id),
            id=workflow_id,
            task_queue=settings.task_queue,
        )
        return workflow_id

    async def approve(workflow_id: str) -> object:
        handle = bench.client.get_workflow_handle(workflow_id)
        return await handle.execute_update(REVIEW_UPDATE, "alice", result_type=str)

    try:
        log = settings.data_dir / "floor-worker.log"
        async with subprocess_worker("benchmarks.floor_review", env, log, "floor") as process:
            with RssSampler(process.pid) as measured.sampler:
                await _scale(
                    bench.client,
                    measured,
                    settings.task_queue,
                    start,
                    approve,
                    "ExecutionStatus = 'Completed'",
                )
    finally:
        bench.model.unroute(marker)
    with sqlite3.connect(store_db_path(settings)) as db:
        writes = db.execute("SELECT COUNT(DISTINCT marker) FROM floor_effects").fetchone()[0]
    measured.lost = max(measured.lost, count - writes)


def _rows(mine: Measured, floor: Measured, *, stopped: bool = False) -> list[Row]:
    """The table's rows; for a stopped run, each figure reached so far (NaN where not) and
    how far each side got."""
    name, count = "paused scale", mine.count
    note = f"{count:,} tasks, {IN_FLIGHT} starts/approvals in flight"
    rows = [
        Row(name, "start: all start calls returned", mine.started, "s", floor.started, note=note),
        Row(name, "start rate", count / mine.started, "tasks/s", count / floor.started, note=note),
        Row(name, "start: all paused for review", mine.paused, "s", floor.paused, note=note),
        Row(
            name,
            "worker peak RSS",
            mine.peak_rss,
            "MiB",
            floor.peak_rss,
            target=f"<= {RSS_TARGET_MIB} MiB",
            note=f"worker subprocess alone, sampled every 0.2 s; max_cached_workflows={CACHE:,} "
            "(SDK default)",
        ),
        Row(name, "worker RSS, all paused", mine.paused_rss, "MiB", floor.paused_rss, note=note),
        Row(
            name,
            "approve all -> all finished",
            mine.approved,
            "s",
            floor.approved,
            note=f"{note}; {max(0, count - CACHE):,} evicted from the cache, replayed on approval",
        ),
        Row(
            name,
            "tasks lost",
            mine.lost,
            "tasks",
            floor.lost,
            target="0",
            note=f"{mine.finished:,} of {count:,} answered, refund rows counted in the store",
        ),
    ]
    if stopped:
        rows.append(
            Row(
                name,
                "how far it got",
                mine.start_calls + mine.approvals,
                "calls",
                floor.start_calls + floor.approvals,
                note=f"start and approval calls returned; Handrail: {mine.how_far()}; "
                f"floor: {floor.how_far()}",
            )
        )
    return rows


async def run(bench: BenchEnv) -> list[Row]:
    count = int(os.environ.get("BENCH_PAUSED_TASKS", QUICK_TASKS if bench.quick else FULL_TASKS))
    floor, mine = Measured("floor", count), Measured("handrail", count)
    bench.so_far = lambda: _rows(mine, floor, stopped=True)
    await _floor(bench, floor)
    await _handrail(bench, mine)
    bench.model.requests.clear()  # thousands of request bodies nobody reads after this
    return _rows(mine, floor)
